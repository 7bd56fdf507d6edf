"""Self-describing model weights: safetensors with the model's name and settings in its header.

A weights file alone is enough to rebuild the network (`load_model`), so `predict`, `evaluate` and
`export` need no pickled objects. Anything that is not a safetensors file we wrote is refused
without being unpickled. Training state (optimizer, EMA, RNG) lives in the training module's own
files and is loaded with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from echoseg.errors import CheckpointError
from echoseg.io import atomic_path

FORMAT_TAG = "echoseg-weights-v1"
WEIGHTS_NAME = "model.safetensors"


def save_model(path: str | Path, model: nn.Module, model_name: str, model_cfg: dict[str, Any],
               extra: dict[str, Any] | None = None) -> Path:
    """Write `model`'s state_dict to `path` atomically with {format, model, model_cfg, extra} metadata.

    `extra` is JSON-serialisable run information (input size, which weights these are, val Dice...).
    """
    path = Path(path)
    meta = {
        "format": FORMAT_TAG,
        "model": model_name,
        "model_cfg": json.dumps(model_cfg),
        "extra": json.dumps(extra or {}),
    }
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of an echoseg weights file: {"model", "model_cfg", "extra"}; refuses others."""
    path = _resolve(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors weights file ({exc})") from None
    if meta.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{path}: safetensors file without echoseg metadata; refusing to guess the model")
    return {"model": meta["model"], "model_cfg": json.loads(meta["model_cfg"]),
            "extra": json.loads(meta.get("extra", "{}"))}


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network from an echoseg weights file (or a run folder holding one). Eval mode."""
    from echoseg.models.registry import create_model

    path = _resolve(path)
    meta = read_metadata(path)
    model = create_model(meta["model"], **meta["model_cfg"])
    state = load_file(str(path), device=str(map_location))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match model {meta['model']} {meta['model_cfg']}: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    model.to(map_location).eval()
    return model, meta


def _resolve(path: str | Path) -> Path:
    """Accept a weights file or a folder: folder/model.safetensors, else folder/best/model.safetensors."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / WEIGHTS_NAME, path / "best" / WEIGHTS_NAME, path / "checkpoints" / "best" / WEIGHTS_NAME):
            if candidate.is_file():
                return candidate
        raise CheckpointError(f"{path}: no {WEIGHTS_NAME} in this folder (nor in best/)")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    return path
