"""Inference engines: what runs the network over a video's windows for a `Segmenter`.

- `TorchEngine`: PyTorch eager (`echoseg.models.video.predict_video_probs`: encoder features reused
  across windows for shared encoders, channels_last, autocast, GPUs).
- `OnnxRuntimeEngine`: the same network exported to ONNX with a dynamic batch axis and run by ONNX
  Runtime's CPU provider, fp32 or int8 (`echoseg.inference.onnx_cache` exports, caches and quantizes).
- `choose_engine`: `auto` times both on this machine with a few warm calls and keeps the faster.

Both engines see the same windows (k frames centred on each frame, edge-replicated:
`models.video.window_indices`) scaled the same way (uint8 / 255) and return sigmoid probabilities,
so the segmenter applies one mask rule whatever ran the network.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from echoseg.data.windows import window_indices
from echoseg.errors import EchosegError
from echoseg.models.video import predict_video_probs

log = logging.getLogger(__name__)

ENGINE_CHOICES = ("torch", "onnxruntime", "auto")
ONNX_EXTRA_HINT = "pip install 'echoseg[onnx]'"


class TorchEngine:
    """PyTorch eager on `device`, optionally with autocast and channels_last (NHWC) memory format."""

    name = "torch"

    def __init__(self, model: nn.Module, *, device: torch.device, batch_size: int,
                 autocast_dtype: torch.dtype | None = None, channels_last: bool = False):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last

    def video_probs(self, small: np.ndarray) -> np.ndarray:
        """uint8 (T, h, w) at the model's input size -> float32 probabilities (T, h, w)."""
        return predict_video_probs(self.model, small, batch_size=self.batch_size, device=self.device,
                                   autocast_dtype=self.autocast_dtype, channels_last=self.channels_last)

    @torch.inference_mode()
    def window_probs(self, windows: np.ndarray) -> np.ndarray:
        """uint8 (B, k, h, w) windows -> float32 probabilities (B, h, w) of their centre frames."""
        x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device, torch.float32) / 255.0
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        amp = self.autocast_dtype is not None
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=amp):
            logits = self.model(x)
        return torch.sigmoid(logits.float())[:, 0].cpu().numpy()

    @property
    def precision(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.autocast_dtype, "fp32")

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "precision": self.precision}


class OnnxRuntimeEngine:
    """An ONNX file with a dynamic batch axis ("frames" (B, k, h, w) in [0, 1] -> "logits" (B, 1, h, w))
    run on the CPU by ONNX Runtime with `threads` intra-op threads.

    spinning: ONNX Runtime's idle threads spin-wait by default; on a machine shared with other work
    that starves the thread that should compute (the same effect `echoseg.threads` avoids for
    OpenMP), so it is off unless asked for.
    """

    name = "onnxruntime"

    def __init__(self, path, window: int, *, batch_size: int, threads: int, precision: str = "fp32",
                 spinning: bool = False, details: dict | None = None):
        self.path = path
        self.window = window
        self.batch_size = batch_size
        self.precision = precision
        self.threads = threads
        self.details = details or {}
        self.session = open_session(path, threads, spinning)
        from echoseg.inference.export import onnx_batch_size

        fixed = onnx_batch_size(self.session)  # a graph exported for batch 1 only (`export_onnx`)
        if fixed is not None:
            self.batch_size = fixed

    def video_probs(self, small: np.ndarray) -> np.ndarray:
        """uint8 (T, h, w) at the model's input size -> float32 probabilities (T, h, w)."""
        small = np.asarray(small)
        n = len(small)
        out = np.empty(small.shape, dtype=np.float32)
        for start in range(0, n, self.batch_size):
            centres = np.arange(start, min(start + self.batch_size, n))
            out[start:start + len(centres)] = self.window_probs(small[window_indices(n, self.window, centres)])
        return out

    def window_probs(self, windows: np.ndarray) -> np.ndarray:
        """uint8 (B, k, h, w) windows -> float32 probabilities (B, h, w) of their centre frames."""
        x = np.divide(windows, np.float32(255.0), dtype=np.float32)  # as torch's `/ 255.0` on float32
        logits = self.session.run(None, {"frames": x})[0]
        return torch.sigmoid(torch.from_numpy(logits[:, 0])).numpy()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "precision": self.precision, "onnx_file": str(self.path),
                "onnxruntime_threads": self.threads, **self.details}


def open_session(path, threads: int, spinning: bool = False):
    """An ONNX Runtime CPU session of `path`; EchosegError naming the extra when onnxruntime is missing."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initializers etc. are not the user's business
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a damaged file, or one written for another ONNX Runtime: onnxruntime raises its own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise EchosegError(f"{path}: ONNX Runtime cannot load it ({first}); delete it and it is exported again") from None


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise EchosegError(f"the onnxruntime engine needs ONNX Runtime: {ONNX_EXTRA_HINT}") from None
    return onnxruntime


@dataclass
class EngineChoice:
    """The engine `auto` kept, with what it measured (frames/s per engine) or why it did not measure."""

    engine: Any
    measured: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def describe(self) -> dict[str, Any]:
        return {"engine_requested": "auto", "engine_auto": {"frames_per_s": self.measured, "reason": self.reason}}


def frames_per_second(engine, input_size: tuple[int, int], *, frames: int, reps: int = 2) -> float:
    """Best of `reps` timed runs of `engine.video_probs` on a random video of `frames` frames (after a warm-up)."""
    video = np.random.default_rng(0).integers(0, 256, (frames, *input_size), dtype=np.uint8)
    engine.video_probs(video)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        engine.video_probs(video)
        best = min(best, time.perf_counter() - start)
    return frames / best


def choose_engine(torch_engine: TorchEngine, make_onnx, input_size: tuple[int, int]) -> EngineChoice:
    """`auto`: ONNX Runtime when it is installed, the model runs on the CPU in float32 and it measured
    faster here than PyTorch (a few warm calls on a random video at the input size); else PyTorch.
    make_onnx: () -> OnnxRuntimeEngine, called only when ONNX Runtime is a candidate."""
    if torch_engine.device.type != "cpu":
        return EngineChoice(torch_engine, reason=f"the model runs on {torch_engine.device}; ONNX Runtime runs on the CPU")
    if torch_engine.autocast_dtype is not None:
        return EngineChoice(torch_engine, reason="autocast (--bf16) runs in PyTorch only")
    try:
        import_onnxruntime()
    except EchosegError:
        return EngineChoice(torch_engine, reason=f"onnxruntime is not installed ({ONNX_EXTRA_HINT})")
    try:
        onnx_engine = make_onnx()
    except EchosegError as exc:
        log.warning("engine auto: %s; using PyTorch", exc)
        return EngineChoice(torch_engine, reason=f"ONNX export failed: {exc}")
    frames = max(2 * torch_engine.batch_size, 16)
    measured = {}
    for _ in range(2):  # interleaved, so a burst of load elsewhere hits both engines alike
        for engine in (torch_engine, onnx_engine):
            fps = frames_per_second(engine, input_size, frames=frames, reps=1)
            measured[engine.name] = round(max(fps, measured.get(engine.name, 0.0)), 1)
    faster = onnx_engine if measured["onnxruntime"] > measured["torch"] else torch_engine
    log.info("engine auto: %s (frames/s on this machine: %s)", faster.name,
             ", ".join(f"{k} {v:.0f}" for k, v in measured.items()))
    return EngineChoice(faster, measured, reason="measured faster here")
