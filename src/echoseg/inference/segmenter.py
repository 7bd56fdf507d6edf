"""One object that turns a video into LV masks: the model, the input size it runs at and the mask rule.

`load_segmenter(checkpoint)` returns it ready for inference; `predict`, `evaluate`, streaming and the
demo all use it, so they resize, run the model and threshold in exactly the same way.

    segmenter = load_segmenter("runs/sscf")          # weights file or run folder
    masks = segmenter.segment(video)                 # uint8 (T, H, W) -> bool (T, H, W), whole frames resized
    masks = segmenter.segment_view(segmenter.view(video))   # scanner exports: cut to the fan and mapped back
    masks, probs = segmenter.segment_with_probs(video)
    stream = segmenter.stream()                      # frame-by-frame, see `echoseg.inference.stream`

What runs the network is the segmenter's engine (`echoseg.inference.engines`): PyTorch by default,
ONNX Runtime with `load_segmenter(..., engine="onnxruntime" | "auto")`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from echoseg.data.resize import resize_probs, resize_video
from echoseg.errors import CheckpointError, EchosegError
from echoseg.geometry.masks import MaskRule
from echoseg.inference.engines import ENGINE_CHOICES, TorchEngine
from echoseg.inference.views import ModelView, model_view
from echoseg.models.checkpoint import WeightsInfo, load_model
from echoseg.models.contract import STRIDE
from echoseg.models.fold_bn import fold_batchnorm
from echoseg.models.video import set_memory_format
from echoseg.models.weights_files import find_weights

# For weights files whose metadata gives no input size (written outside the trainer, which records it).
DEFAULT_INPUT_SIZE = (112, 112)


def check_input_size(size) -> tuple[int, int]:
    """(h, w) as ints; both positive multiples of the networks' stride (16), else EchosegError."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise EchosegError(f"model input size must be [height, width], got {size!r}") from None
    if h <= 0 or w <= 0 or h % STRIDE or w % STRIDE:
        raise EchosegError(f"model input size {h}x{w}: height and width must be positive multiples of {STRIDE}")
    return h, w


class Segmenter:
    """A model that follows the model contract (attribute `window`; (B, k, h, w) in [0, 1] -> logits
    (B, 1, h, w)), the (h, w) it runs at, and the rule that makes masks from its probabilities.

    Videos of any size go in: they are resized to `input_size`, segmented with a sliding window of
    k frames (`echoseg.models.video.predict_video_probs`), and the probabilities resized back.
    weights: what the weights file said about itself (None for a model built in memory).
    engine: what runs the network (`echoseg.inference.engines`); PyTorch with the given device,
    batch size, autocast and memory format until `use_engine` swaps it.
    """

    def __init__(self, model: nn.Module, input_size, *, mask_rule: MaskRule | None = None,
                 weights: WeightsInfo | None = None, batch_size: int = 16, device: str | torch.device | None = None,
                 autocast_dtype: torch.dtype | None = None, channels_last: bool = False):
        if batch_size < 1:
            raise EchosegError(f"batch size must be at least 1, got {batch_size}")
        self.input_size = check_input_size(input_size)
        self.mask_rule = mask_rule or MaskRule()
        self.weights = weights
        self.batch_size = batch_size
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        self.model = model
        if model is not None:
            model_device = next(model.parameters()).device
            self.device = torch.device(device) if device is not None else model_device
            model.to(self.device).eval()
            if channels_last:
                set_memory_format(model, torch.channels_last)
        else:  # a stand-in that overrides `model_probs` (tests)
            self.device = torch.device(device or "cpu")
        self.engine = TorchEngine(model, device=self.device, batch_size=batch_size, autocast_dtype=autocast_dtype,
                                  channels_last=channels_last)
        self.engine_choice: dict[str, Any] = {}  # how `auto` chose, for run records

    def use_engine(self, engine, choice: dict[str, Any] | None = None) -> None:
        """Run the network with `engine` from now on (an `OnnxRuntimeEngine`, or the `TorchEngine` back)."""
        self.engine = engine
        self.engine_choice = choice or {}

    @property
    def window(self) -> int:
        return self.model.window if self.model is not None else 1

    def model_probs(self, small: np.ndarray) -> np.ndarray:
        """uint8 (T, h, w) at `input_size` -> float32 probabilities (T, h, w)."""
        return self.engine.video_probs(small)

    def _small_probs(self, frames: np.ndarray) -> np.ndarray:
        small = resize_video(np.asarray(frames), self.input_size)
        probs = np.asarray(self.model_probs(small))
        if probs.shape != small.shape:
            raise ValueError(f"the model returned probabilities {probs.shape} for a video resized to {small.shape}")
        return probs

    def probs(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W) -> float32 probabilities (T, H, W) at the video's own size."""
        return resize_probs(self._small_probs(frames), frames.shape[1:])

    def masks(self, probs: np.ndarray) -> np.ndarray:
        """float (T, H, W) probabilities -> bool (T, H, W) masks by the mask rule."""
        return np.stack([self.mask_rule(p) for p in probs]) if len(probs) else np.zeros(probs.shape, bool)

    def segment(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W) -> bool masks (T, H, W). Probabilities are resized back one frame at a time,
        so a large video never holds full-size float probabilities for all its frames."""
        size = frames.shape[1:]
        small = self._small_probs(frames)
        if not len(small):
            return np.zeros(frames.shape, bool)
        return np.stack([self.mask_rule(resize_probs(p[None], size)[0]) for p in small])

    def view(self, frames: np.ndarray, *, crop: bool = True, framing: str = "depth",
             region: tuple[int, int, int, int] | None = None, path: str = "<video>") -> ModelView:
        """How `frames` reach this model: cut to the ultrasound fan for scanner exports, else resized whole
        (`echoseg.inference.views`). Raises FanNotFound (naming `path`) when cropping finds no fan."""
        return model_view(frames, self.input_size, crop=crop, framing=framing, region=region, path=path)

    def segment_view(self, view: ModelView) -> np.ndarray:
        """bool masks (T, H, W) on the original frames of `view`, mapped back one frame at a time."""
        probs = np.asarray(self.model_probs(view.frames))
        if probs.shape != view.frames.shape:
            raise ValueError(f"the model returned probabilities {probs.shape} for an input of {view.frames.shape}")
        return view.masks_from(probs, self.mask_rule)

    def segment_with_probs(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(masks bool (T, H, W), probabilities float32 (T, H, W)) at the video's own size."""
        probs = self.probs(frames)
        return self.masks(probs), probs

    def stream(self):
        """A `StreamingSegmenter` over this model: push frames one at a time, get masks back."""
        from echoseg.inference.stream import StreamingSegmenter

        return StreamingSegmenter(self)

    def describe(self) -> dict[str, Any]:
        """What made the masks, for run records and reports (JSON-ready)."""
        info: dict[str, Any] = {"input_size": list(self.input_size), "threshold": self.mask_rule.threshold,
                                "mask_rule": self.mask_rule.describe(), **self.engine.describe(), **self.engine_choice}
        if self.weights is not None:
            info.update(checkpoint=str(self.weights.path), checkpoint_sha=self.weights.sha256,
                        model=self.weights.model, model_cfg=self.weights.model_cfg)
            if self.weights.extra.get("note"):  # e.g. the shipped model: "trained on synthetic data only; ..."
                info["note"] = self.weights.extra["note"]
        return info


def load_segmenter(checkpoint: str | Path, *, device: str | torch.device = "cpu", threshold: float | None = None,
                   clean: bool | None = None, batch_size: int = 16, autocast_dtype: torch.dtype | None = None,
                   channels_last: bool = False, engine: str = "torch", int8: bool = False,
                   int8_calibration=None) -> Segmenter:
    """The Segmenter of a weights file or run folder, ready for inference on `device`.

    The weights carry their use: the input size and the mask rule training selected the checkpoint
    with (`MaskRule.as_metadata`) come from the file's metadata; `threshold` and `clean` override the
    recorded rule where given (files that record none get threshold 0.5, no cleaning).
    The model is an eval-mode copy with BatchNorm folded into the convolutions (same outputs, fewer
    memory passes: about 17% faster on CPU); it is for inference only, never save it. The weights file
    is read once. Files that are not echoseg safetensors are refused without unpickling; a model
    setting the code does not know, or weights whose shapes differ from the model its settings build,
    raise CheckpointError naming the setting or the tensors.
    engine, int8, int8_calibration: what runs the network (`set_engine`).
    """
    path = find_weights(checkpoint)
    model, info = load_model(path, map_location=device)
    rule = MaskRule.from_metadata(info.extra.get("mask_rule"), threshold, clean)
    segmenter = Segmenter(fold_batchnorm(model), recorded_input_size(info), mask_rule=rule, weights=info,
                          batch_size=batch_size, device=device, autocast_dtype=autocast_dtype,
                          channels_last=channels_last)
    set_engine(segmenter, engine, int8=int8, calibration=int8_calibration)
    return segmenter


def set_engine(segmenter: Segmenter, engine: str = "torch", *, int8: bool = False, calibration=None) -> None:
    """Give `segmenter` the engine named: "torch" (as built), "onnxruntime" (its model exported to ONNX once
    and cached beside the weights: `echoseg.inference.onnx_cache`) or "auto" (the faster of the two on this
    machine, measured now: `engines.choose_engine`). int8: ONNX Runtime with a statically quantized model,
    calibrated on `calibration` (an `onnx_cache.Calibration`, or video paths; default synthetic video) and refused when its
    masks fall below Dice 0.99 against fp32; implies onnxruntime. EchosegError on impossible combinations."""
    from echoseg.inference import engines, onnx_cache

    if engine not in ENGINE_CHOICES:
        raise EchosegError(f"unknown engine {engine!r}; valid: {', '.join(ENGINE_CHOICES)}")
    if int8 and engine == "torch":
        raise EchosegError("--int8 runs in ONNX Runtime: use it with --engine onnxruntime (or auto)")
    if engine == "torch":
        return

    def make_onnx() -> engines.OnnxRuntimeEngine:
        threads = torch.get_num_threads()
        details: dict[str, Any] = {}
        if int8:
            if calibration is None:
                chosen = onnx_cache.synthetic_calibration(segmenter.input_size)
            elif isinstance(calibration, onnx_cache.Calibration):
                chosen = calibration
            else:  # paths of the user's videos
                chosen = onnx_cache.file_calibration(calibration, segmenter.input_size)
            path, record = onnx_cache.int8_onnx(segmenter.model, segmenter.weights, segmenter.input_size, chosen,
                                                segmenter.mask_rule, threads=threads)
            details["int8_check"] = {key: record[key] for key in ("calibration", "dice_vs_fp32_mean",
                                                                  "dice_vs_fp32_min_frame", "check_frames")}
        else:
            path = onnx_cache.fp32_onnx(segmenter.model, segmenter.weights, segmenter.input_size)
        return engines.OnnxRuntimeEngine(path, segmenter.window, batch_size=segmenter.batch_size, threads=threads,
                                         precision="int8" if int8 else "fp32", details=details)

    if engine == "auto" and not int8:
        choice = engines.choose_engine(segmenter.engine, make_onnx, segmenter.input_size)
        segmenter.use_engine(choice.engine, choice.describe())
        return
    if segmenter.device.type != "cpu":
        raise EchosegError(f"the onnxruntime engine runs on the CPU, the model is on {segmenter.device}: "
                           "add --device cpu, or use --engine torch")
    if segmenter.autocast_dtype is not None:
        raise EchosegError("--bf16 is PyTorch autocast: use it with --engine torch")
    engines.import_onnxruntime()
    segmenter.use_engine(make_onnx(), {"engine_requested": engine})


def recorded_input_size(info: WeightsInfo) -> tuple[int, int]:
    """The (h, w) a weights file records (`input_size`, written by training), else DEFAULT_INPUT_SIZE;
    CheckpointError when the recorded one is not a valid input size."""
    size = info.extra.get("input_size") or DEFAULT_INPUT_SIZE
    if isinstance(size, int):
        size = (size, size)
    try:
        return check_input_size(size)
    except EchosegError as exc:
        raise CheckpointError(f"{info.path}: input_size in its metadata: {exc}") from None


# The model `echoseg predict` uses when no checkpoint is given: package data made by
# `echoseg.pretrained.recipe` (python -m echoseg.pretrained.recipe). Every output that uses it says so.
PRETRAINED_FILE = ("pretrained", "sscf_cpu_synthetic.safetensors")
PRETRAINED_NOTE = "trained on synthetic data only; for research"


def pretrained_path(must_exist: bool = True) -> Path:
    """The shipped synthetic-pretrained weights file (SSCF, CPU preset). CheckpointError when this
    install has none (`must_exist`), e.g. a source tree where the recipe has not been run."""
    path = Path(__file__).resolve().parent.parent.joinpath(*PRETRAINED_FILE)
    if must_exist and not path.is_file():
        raise CheckpointError(f"{path}: this echoseg install ships no pretrained model; give a checkpoint "
                              "(a weights file or a training run folder)")
    return path
