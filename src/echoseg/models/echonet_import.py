"""EchoNet-Dynamic's released segmentation checkpoint -> an echoseg weights file of `echonet_deeplabv3`.

EchoNet-Dynamic (github echonet/dynamic) publishes `deeplabv3_resnet50_random.pt`, saved by its
`echonet/utils/segmentation.py` as `torch.save({"epoch", "state_dict", "opt_dict", "scheduler_dict",
"best_loss", "loss"}, ...)` from a `torch.nn.DataParallel` model: the keys of `state_dict` start with
`module.`. It is read with `torch.load(weights_only=True)` (plain tensors and containers only; any
pickled object is refused, never run), every key and shape is checked against `echonet_deeplabv3`,
and the result is written as a self-describing echoseg safetensors file: model and settings, input
size 112x112 (EchoNet's frames), the normalisation the model carries, and the mask rule EchoNet uses
(logit > 0, i.e. probability > 0.5, no post-processing).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from echoseg.errors import CheckpointError
from echoseg.geometry.masks import MaskRule
from echoseg.models.baselines.deeplabv3 import ECHONET_MEAN, ECHONET_STD, EchoNetDeepLabV3
from echoseg.models.checkpoint import save_model

MODEL_NAME = "echonet_deeplabv3"
INPUT_SIZE = (112, 112)
NORMALISATION_BUFFERS = ("pixel_mean", "pixel_std")  # echoseg's own; EchoNet computes them at run time


def read_echonet_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an EchoNet-Dynamic checkpoint, `module.` prefixes removed; CheckpointError (one
    line naming the file) when it cannot be read safely or holds no state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for pickled objects, RuntimeError/EOFError for damaged files
        text = str(exc).strip()
        first = text[text.find("Unsupported global"):].splitlines()[0] if "Unsupported global" in text else \
            (text.splitlines() or [type(exc).__name__])[0]
        if "Unsupported global" in str(exc):  # weights_only met a pickled object (garbage bytes fail otherwise)
            raise CheckpointError(f"{path}: holds pickled Python objects, which are not loaded (only plain "
                                  f"tensors are read, weights_only=True): {first[:160]}") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {first[:160]})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no state dict of tensors found (expected EchoNet-Dynamic's "
                              "{'epoch', 'state_dict', ...} checkpoint)")
    return {key.removeprefix("module."): value for key, value in state.items()}


def check_state_dict(path: Path, state: dict[str, torch.Tensor], model: EchoNetDeepLabV3) -> None:
    """CheckpointError naming the first missing or unexpected key or the first wrong shape."""
    expected = {k: v.shape for k, v in model.state_dict().items() if k not in NORMALISATION_BUFFERS}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in NORMALISATION_BUFFERS]
    if missing:
        raise CheckpointError(f"{path}: not EchoNet-Dynamic's DeepLabV3-ResNet-50: {len(missing)} key(s) missing, "
                              f"first {missing[0]!r}")
    if unexpected:
        raise CheckpointError(f"{path}: not EchoNet-Dynamic's DeepLabV3-ResNet-50: {len(unexpected)} unexpected "
                              f"key(s), first {unexpected[0]!r} (an auxiliary head? EchoNet trains without one)")
    for key, shape in expected.items():
        if tuple(state[key].shape) != tuple(shape):
            raise CheckpointError(f"{path}: {key} has shape {tuple(state[key].shape)}, echonet_deeplabv3 expects "
                                  f"{tuple(shape)} (a model with other classes or channels?)")


def import_echonet(path: str | Path, out: str | Path, *, mean=ECHONET_MEAN, std=ECHONET_STD) -> Path:
    """Read EchoNet-Dynamic's checkpoint at `path`, check it, write the echoseg weights file `out`."""
    path = Path(path)
    state = read_echonet_state_dict(path)
    model = EchoNetDeepLabV3()
    check_state_dict(path, state, model)
    tensors = {k: v for k, v in state.items() if k not in NORMALISATION_BUFFERS}
    tensors["pixel_mean"] = torch.tensor([float(v) for v in mean])
    tensors["pixel_std"] = torch.tensor([float(v) for v in std])
    if not (tensors["pixel_std"] > 0).all():
        raise CheckpointError(f"--std {list(std)}: every standard deviation must be positive")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    extra = {
        "input_size": list(INPUT_SIZE),
        "mask_rule": MaskRule(threshold=0.5, clean=False).as_metadata(),
        "normalisation": {"mean": [float(v) for v in mean], "std": [float(v) for v in std],
                          "pixels": "0-255, RGB channels (a grayscale frame repeated)"},
        "source": {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                   "project": "EchoNet-Dynamic (github echonet/dynamic), DeepLabV3-ResNet-50"},
        "note": "EchoNet-Dynamic's released segmentation weights, imported; their licence applies",
    }
    return save_model(out, model, MODEL_NAME, {"width": 1.0, "window": 1}, extra=extra)
