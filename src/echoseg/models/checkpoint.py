"""Self-describing model weights: safetensors with the model's name and settings in its header.

A weights file alone is enough to rebuild the network (`load_model`), so `predict`, `evaluate` and
`export` need no pickled objects. Anything that is not a safetensors file we wrote is refused
without being unpickled. Training state (optimizer, EMA, RNG) lives in the run folder's own files
(`echoseg.training.run_folder`) and is loaded with `torch.load(weights_only=True)`; finding the
weights inside a run folder is the run folder's business too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from echoseg.errors import CheckpointError
from echoseg.io import atomic_path
from echoseg.models.registry import create_model

FORMAT_TAG = "echoseg-weights-v1"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class WeightsInfo:
    """What a weights file says about itself: model name and settings, run information, content hash."""

    path: Path
    model: str
    model_cfg: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


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


def _read_bytes(path: str | Path) -> tuple[Path, bytes]:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; give the weights file (or load it through a run folder)")
    try:
        return path, path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _parse_info(path: Path, data: bytes) -> WeightsInfo:
    """The echoseg metadata from the safetensors header (8-byte length + JSON), without the tensors."""
    try:
        n = int.from_bytes(data[:8], "little")
        if len(data) < 8 or not 2 <= n <= len(data) - 8:
            raise ValueError("header length out of range")
        meta = json.loads(data[8:8 + n]).get("__metadata__") or {}
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a safetensors weights file ({exc})") from None
    if meta.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{path}: safetensors file without echoseg metadata; refusing to guess the model")
    try:
        return WeightsInfo(path, meta["model"], json.loads(meta["model_cfg"]), json.loads(meta.get("extra", "{}")))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged echoseg metadata ({exc})") from None


def read_metadata(path: str | Path) -> WeightsInfo:
    """The metadata of an echoseg weights file; refuses files that are not echoseg safetensors."""
    path, data = _read_bytes(path)
    info = _parse_info(path, data)
    info.sha256 = hashlib.sha256(data).hexdigest()
    return info


def _read_weights(path: str | Path) -> tuple[Path, WeightsInfo, dict[str, torch.Tensor]]:
    """(path, metadata with the file's sha256, tensors) of an echoseg weights file, read once."""
    path, data = _read_bytes(path)
    info = _parse_info(path, data)
    info.sha256 = hashlib.sha256(data).hexdigest()
    try:
        state = load_safetensors(data)
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged safetensors weights ({exc})") from None
    _refuse_non_finite(path, state)
    return path, info, state


def _refuse_non_finite(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Weights holding NaN or infinity give NaN probabilities, which threshold to all-empty masks: refuse
    them at load, naming the file, rather than report empty ventricles."""
    bad = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} of {len(state)} weight tensors hold NaN or infinite values "
                              f"(e.g. {bad[0]}): these weights are non-finite and cannot segment; use weights saved "
                              "before the training diverged")


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, WeightsInfo]:
    """Rebuild the network from an echoseg weights file, reading the file once. Eval mode.

    Errors name the file and what does not match: an unknown model name or setting, or weights whose
    shapes differ from the model its settings build (all CheckpointError).
    """
    path, info, state = _read_weights(path)
    try:
        model = create_model(info.model, **info.model_cfg)
    except TypeError as exc:  # create_model(**cfg) with a setting the model factory does not take
        raise CheckpointError(f"{path}: its model settings do not match this echoseg's model: {exc}") from None
    except ValueError as exc:  # unknown model name (create_model lists the valid ones), bad settings
        raise CheckpointError(f"{path}: {exc}") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln]
        detail = "; ".join(lines[:3]) if lines else str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the model its settings describe: {detail}") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match model {info.model} {info.model_cfg}: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    model.to(map_location).eval()
    return model, info


def load_initial_weights(model: nn.Module, path: str | Path, model_name: str, model_cfg: dict[str, Any]) -> WeightsInfo:
    """Copy the weights of an echoseg weights file into `model` (built as `model_name` with `model_cfg`)
    to start a training run from them (fine-tuning). Returns what the file says about itself.

    The networks must be the same: every tensor of `model` present in the file with the same shape
    and nothing else. Otherwise one CheckpointError line names both networks and the first tensors
    that differ, so a user sees which setting to change.
    """
    path, info, state = _read_weights(path)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    if ours != theirs:
        missing = sorted(ours.keys() - theirs.keys())
        extra = sorted(theirs.keys() - ours.keys())
        resized = sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
        detail = "; ".join(part for part in (
            f"{len(resized)} tensors of another shape, e.g. {resized[0]} {theirs[resized[0]]} vs {ours[resized[0]]}"
            if resized else "", f"{len(missing)} missing, e.g. {missing[0]}" if missing else "",
            f"{len(extra)} unexpected, e.g. {extra[0]}" if extra else "") if part)
        raise CheckpointError(f"{path}: cannot start from these weights: they are {info.model} {info.model_cfg}, "
                              f"the config builds {model_name} {model_cfg} ({detail}); use the same model settings")
    model.load_state_dict(state, strict=True)
    return info
