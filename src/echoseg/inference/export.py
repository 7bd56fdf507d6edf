"""Export a model for deployment: ONNX (checked with onnxruntime) and TorchScript (checked against eager).

ONNX files take any batch size at a fixed input size: (B, k, H, W) -> logits (B, 1, H, W) (the
input-size-dependent ASSC pooling bins are constants of the graph; the batch axis is dynamic and
checked at two batch sizes). TorchScript traces are for batch 1 at a fixed input size. SSCF's
calibration mixes channels per sample (ASSC, factored form): tracing records it as a batched matmul
whose batch follows the input's.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from echoseg.errors import EchosegError
from echoseg.inference.segmenter import check_input_size
from echoseg.io import atomic_path

log = logging.getLogger(__name__)

ONNX_OPSET = 17
INPUT_NAME = "frames"
OUTPUT_NAME = "logits"


def example_input(model: nn.Module, size: tuple[int, int], seed: int = 0, batch: int = 1) -> torch.Tensor:
    """A random (batch, k, H, W) input in [0, 1]."""
    h, w = check_input_size(size)
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, model.window, h, w, generator=gen)


@torch.inference_mode()
def _eager(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    return model(x).float().cpu().numpy()


def export_onnx(model: nn.Module, path: str | Path, size: tuple[int, int], opset: int = ONNX_OPSET) -> float:
    """Write `model` (eval, CPU) as ONNX at `path`, run it in onnxruntime on random inputs and return
    the max abs difference of the logits from PyTorch's. Raises EchosegError if onnxruntime is missing.

    Input "frames" float (B, k, H, W) in [0, 1], output "logits" (B, 1, H, W). B is dynamic (checked at
    batch 1 and 3) unless the graph cannot be: a model that folds the batch into the groups of a
    convolution (a per-sample kernel applied as one grouped conv) is exported again for batch 1, which
    `onnx_batch_size` then reports. H and W are static (the ASSC pooling bins depend on them). Uses
    the TorchScript-based exporter (needs only the `onnx` package; the torch.export-based one would
    also need `onnxscript`).
    """
    require_onnx()
    model = model.cpu().eval()
    x = example_input(model, size)
    try:  # a shape the tracer froze to batch 1 only shows when run at another batch size
        _trace_to_onnx(model, path, x, opset, dynamic_batch=True)
        with _failure_names(path, "running the ONNX file at batch 3"):
            diff = check_onnx(model, path, example_input(model, size, seed=1, batch=3))
    except EchosegError as exc:
        log.info("%s; exporting for batch 1 only", exc)
        _trace_to_onnx(model, path, x, opset, dynamic_batch=False)
        diff = 0.0
    with _failure_names(path, "running the ONNX file"):
        return max(diff, check_onnx(model, path, x))


def _trace_to_onnx(model: nn.Module, path: str | Path, x: torch.Tensor, opset: int, dynamic_batch: bool) -> None:
    # Written under a temporary name: a failed export leaves no partial .onnx behind.
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with _failure_names(path, "ONNX export"), atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # dynamic_axes on a graph that turns out static: checked above
        torch.onnx.export(model, (x,), str(tmp), dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset, dynamic_axes=axes)


def onnx_batch_size(session_or_path) -> int | None:
    """The batch size an ONNX file is fixed to, or None when its batch axis is dynamic."""
    if isinstance(session_or_path, (str, Path)):
        import onnxruntime as ort

        session_or_path = ort.InferenceSession(str(session_or_path), providers=["CPUExecutionProvider"])
    first = session_or_path.get_inputs()[0].shape[0]
    return first if isinstance(first, int) else None


def require_onnx() -> None:
    """EchosegError saying what to install when the onnx exporter's or checker's package is missing."""
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise EchosegError(f"ONNX export needs {' and '.join(missing)}: pip install 'echoseg[onnx]'")


@contextlib.contextmanager
def _failure_names(path: str | Path, what: str):
    """Any exporter failure becomes one EchosegError naming the file (the exporters raise many types)."""
    try:
        yield
    except EchosegError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise EchosegError(f"{path}: {what} failed ({type(exc).__name__}: {first})") from exc


def check_onnx(model: nn.Module, path: str | Path, x: torch.Tensor) -> float:
    """Max abs difference between onnxruntime's and PyTorch's logits on input x (B, k, H, W)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise EchosegError("checking the ONNX file needs onnxruntime: pip install 'echoseg[onnx]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    return float(np.abs(got - _eager(model, x)).max())


def export_torchscript(model: nn.Module, path: str | Path, size: tuple[int, int]) -> float:
    """Trace `model` at (1, k, H, W) and save it; returns the max abs logits difference traced vs eager
    on a second random input (so a trace that froze data-dependent values would show up)."""
    model = model.cpu().eval()
    x = example_input(model, size)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # Shape checks in forward become constants of the trace: expected, the export is fixed-size.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with _failure_names(path, "TorchScript tracing"):
            traced = torch.jit.trace(model, (x,), check_trace=False)  # checked below, on another input
    with _failure_names(path, "TorchScript export"), atomic_path(path) as tmp:
        traced.save(str(tmp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(str(path))
    x2 = example_input(model, size, seed=1)
    with torch.no_grad():
        return float(np.abs(loaded(x2).float().numpy() - _eager(model, x2)).max())
