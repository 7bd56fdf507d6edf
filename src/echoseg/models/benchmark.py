"""Model benchmark: parameters, FLOPs, whole-video CPU speed and efficiency against a conv ceiling.

Everything here is measured in one process so that ratios (model GFLOP/s : conv-ceiling GFLOP/s,
ASSC : plain conv) are comparable even on a shared, noisy machine; absolute times are not.

- FLOPs are counted with torch.utils.flop_counter on the meta device (no compute): forward only.
  `video_gflops` is the work whole-video inference really does per frame: the encoder once per
  frame with a shared encoder, k times (once per TCE encoder) otherwise, plus one window's fusion
  and decoder.
- Timings run `predict_video_probs` on a random uint8 video, on a BatchNorm-folded copy of the
  model (`fold_batchnorm`, what inference should use), best of `reps` after one warm-up.
- Modes: "fp32" (NCHW), "channels_last" (fp32 NHWC), "bf16" (bfloat16 autocast, NHWC).
- The conv ceiling of a mode is the best GFLOP/s of plain 3x3 convs shaped like the encoder's
  stages 1-3 at this width and size, batch 8, same mode, measured right after each timed model
  call; the reported fraction is the median of those adjacent pairs' ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from echoseg.models.calibration import ASSC
from echoseg.models.fold_bn import fold_batchnorm
from echoseg.models.registry import create_model
from echoseg.models.video import predict_video_probs, set_memory_format

MODES = {
    "fp32": (torch.contiguous_format, None),
    "channels_last": (torch.channels_last, None),
    "bf16": (torch.channels_last, torch.bfloat16),
}


@dataclass
class ModelRow:
    variant: str
    k: int
    params_m: float
    gflops: float  # forward of one window at size x size
    video_gflops: float  # per frame in whole-video inference
    ms_per_frame: dict[str, float] = field(default_factory=dict)
    ceiling_fraction: dict[str, float] = field(default_factory=dict)  # median of adjacent-pair ratios
    ceiling_gflops: dict[str, float] = field(default_factory=dict)  # median conv ceiling during the timing


def model_cfg(variant: str, k: int, width: float) -> dict:
    return {"width": width} if variant == "unet" else {"width": width, "window": k}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def model_flops(variant: str, cfg: dict, size: int) -> tuple[float, float, int]:
    """(forward GFLOPs of one window, GFLOPs per frame of whole-video inference, parameters).

    Models without `encode_frames` (the competitors) run one full window per frame in whole-video
    inference, so both numbers are the window's forward."""
    with torch.device("meta"):
        model = create_model(variant, **cfg).eval()
        window = torch.zeros(1, model.window, size, size)
        frame = torch.zeros(1, 1, size, size)
    forward = count_flops(lambda: model(window))
    if not model.splits_frames:
        return forward / 1e9, forward / 1e9, count_params(model)
    encode = count_flops(lambda: model.encode_frames(frame))
    feats = model.encode_frames(frame)
    decode = count_flops(lambda: model.decode_window([feats] * model.window))
    encodes_per_frame = 1 if model.shared_encoder else model.window
    return forward / 1e9, (encodes_per_frame * encode + decode) / 1e9, count_params(model)


def best_time(fn: Callable[[], object], reps: int) -> float:
    """Seconds of the fastest of `reps` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(max(1, reps)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _mode_context(mode: str):
    _, amp = MODES[mode]
    return torch.autocast("cpu", dtype=amp) if amp is not None else torch.autocast("cpu", enabled=False)


def ceiling_shapes(width: float, size: int, batch: int = 8) -> list[tuple[int, int, int]]:
    """(batch, channels, map size) of the encoder's 3x3 convs in stages 1-3 at this width and input size."""
    from echoseg.models.encoders import scaled_channels

    return [(batch, c, size // 2 ** (s + 1)) for s, c in enumerate(scaled_channels(width)[:3])]


def conv_ceiling(mode: str, shapes: Iterable[tuple[int, int, int]], reps: int = 3, warm: bool = True) -> float:
    """Best GFLOP/s of plain 3x3 convs (batch, channels, map size) in `mode` (reps=0: warm-up only)."""
    fmt, _ = MODES[mode]
    best = 0.0
    for batch, c, s in shapes:
        x = torch.randn(batch, c, s, s).contiguous(memory_format=fmt)
        w = torch.randn(c, c, 3, 3).contiguous(memory_format=fmt)
        with torch.inference_mode(), _mode_context(mode):
            conv = lambda x=x, w=w: F.conv2d(x, w, padding=1)  # noqa: E731
            if warm:
                conv()
            if reps == 0:
                continue
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                conv()
                times.append(time.perf_counter() - start)
        best = max(best, 2 * 9 * c * c * s * s * batch / min(times) / 1e9)
    return best


def _video_call(model: nn.Module, mode: str, size: int, frames: int, batch_size: int) -> Callable[[], object]:
    fmt, amp = MODES[mode]
    video = np.random.default_rng(0).integers(0, 256, size=(frames, size, size), dtype=np.uint8)
    return lambda: predict_video_probs(model, video, batch_size=batch_size, autocast_dtype=amp,
                                       channels_last=fmt == torch.channels_last)


def video_ms_per_frame(model: nn.Module, mode: str, size: int, frames: int, batch_size: int, reps: int) -> float:
    """Milliseconds per frame of whole-video inference on a random video of `frames` frames."""
    fmt, _ = MODES[mode]
    model = set_memory_format(model, fmt)
    try:
        t = best_time(_video_call(model, mode, size, frames, batch_size), reps)
    finally:
        set_memory_format(model, torch.contiguous_format)
    return t / frames * 1e3


def video_speed_vs_ceiling(model: nn.Module, mode: str, size: int, frames: int, batch_size: int, reps: int,
                           video_gflops: float, shapes: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    """(best ms/frame, median fraction of the conv ceiling, median ceiling GFLOP/s).

    The ceiling convs run right after each timed model call and each pair gives one ratio: on a
    shared machine the load drifts, and only measurements seconds apart are comparable.
    """
    fmt, _ = MODES[mode]
    model = set_memory_format(model, fmt)
    call = _video_call(model, mode, size, frames, batch_size)
    try:
        call()  # warm-up (oneDNN primitive caches)
        conv_ceiling(mode, shapes, reps=0)
        times, ceilings, ratios = [], [], []
        for _ in range(max(1, reps)):
            start = time.perf_counter()
            call()
            t = time.perf_counter() - start
            ceiling = conv_ceiling(mode, shapes, reps=1, warm=False)
            times.append(t)
            ceilings.append(ceiling)
            ratios.append(video_gflops * frames / t / ceiling)
    finally:
        set_memory_format(model, torch.contiguous_format)
    return min(times) / frames * 1e3, float(np.median(ratios)), float(np.median(ceilings))


def interleaved_ratio(variant_a: tuple[str, dict], variant_b: tuple[str, dict], *, mode: str = "channels_last",
                      size: int = 256, frames: int = 4, batch_size: int = 4, pairs: int = 3) -> float:
    """Median over `pairs` of time(a) / time(b), whole-video inference, calls alternated so that both
    members of a pair see the same machine load. Variants are (name, settings)."""
    fmt, _ = MODES[mode]
    calls = []
    for name, cfg in (variant_a, variant_b):
        model = set_memory_format(fold_batchnorm(create_model(name, **cfg)), fmt)
        call = _video_call(model, mode, size, frames, batch_size)
        call()
        calls.append(call)
    ratios = []
    for _ in range(pairs):
        times = []
        for call in calls:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        ratios.append(times[0] / times[1])
    return float(np.median(ratios))


def benchmark_models(variants: Iterable[str], windows: Iterable[int], *, size: int = 256, width: float = 1.0,
                     modes: Iterable[str] = tuple(MODES), frames: int = 8, batch_size: int = 4, reps: int = 1,
                     time_windows: Iterable[int] | None = None,
                     log: Callable[[str], None] = lambda s: None) -> list[ModelRow]:
    """One row per (variant, k): params and FLOPs always, timings for k in `time_windows` (default all)."""
    modes = list(modes)
    time_windows = set(windows if time_windows is None else time_windows)
    shapes = ceiling_shapes(width, size)
    rows = []
    for variant in variants:
        for k in (1,) if variant == "unet" else windows:
            cfg = model_cfg(variant, k, width)
            gflops, video_gflops, params = model_flops(variant, cfg, size)
            row = ModelRow(variant, k, params / 1e6, gflops, video_gflops)
            if k in time_windows:
                model = fold_batchnorm(create_model(variant, **cfg))
                for mode in modes:
                    ms, fraction, ceiling = video_speed_vs_ceiling(model, mode, size, frames, batch_size, reps,
                                                                   video_gflops, shapes)
                    row.ms_per_frame[mode] = ms
                    row.ceiling_fraction[mode] = fraction
                    row.ceiling_gflops[mode] = ceiling
            log(f"{variant} k={k}: {row.params_m:.1f} M params, {gflops:.1f} GFLOPs, "
                + ", ".join(f"{m} {v:.1f} ms/frame ({100 * row.ceiling_fraction[m]:.0f}% of "
                            f"{row.ceiling_gflops[m]:.0f} GFLOP/s)" for m, v in row.ms_per_frame.items()))
            rows.append(row)
    return rows


@dataclass
class AsscRow:
    channels: int
    size: int
    batch: int
    mode: str
    gflops: float  # of the factored ASSC actually run
    ms: dict[str, float]  # per formulation, plus "conv" (one plain 3x3 conv, same shape)
    fraction_of_conv: float  # factored ASSC GFLOP/s / plain conv GFLOP/s


ASSC_VARIANTS = {  # column name -> (kernel, formulation)
    "factored": ("matmul", "factored"),
    "grouped": ("matmul", "grouped"),
    "unfold": ("matmul", "unfold"),
    "elementwise grouped": ("elementwise", "grouped"),
    "elementwise unfold": ("elementwise", "unfold"),
}


def benchmark_assc(width: float = 1.0, size: int = 256, batch: int = 4, modes: Iterable[str] = ("fp32", "channels_last"),
                   variants: Iterable[str] = tuple(ASSC_VARIANTS), reps: int = 2) -> list[AsscRow]:
    """ASSC at each encoder stage of a `size` input: kernels and formulations compared, and the
    default (matmul kernel, factored) against a plain conv."""
    from echoseg.models.encoders import scaled_channels

    rows = []
    for stage, c in enumerate(scaled_channels(width)):
        s = size // 2 ** (stage + 1)
        for mode in modes:
            fmt, _ = MODES[mode]
            x = torch.randn(batch, c, s, s).contiguous(memory_format=fmt)
            y = torch.randn(batch, c, s, s).contiguous(memory_format=fmt)
            w = torch.randn(c, c, 3, 3).contiguous(memory_format=fmt)
            ms = {}
            with torch.inference_mode(), _mode_context(mode):
                ms["conv"] = best_time(lambda x=x, w=w: F.conv2d(x, w, padding=1), reps) * 1e3
                for name in variants:
                    kernel, form = ASSC_VARIANTS[name]
                    assc = ASSC(c, kernel=kernel, formulation=form).eval().to(memory_format=fmt)
                    ms[name] = best_time(lambda a=assc, x=x, y=y: a(x, y), reps) * 1e3
                factored = ASSC(c).eval()
                flops = count_flops(lambda a=factored, x=x, y=y: a(x, y))
            conv_flops = 2 * 9 * c * c * s * s * batch
            fraction = (flops / ms["factored"]) / (conv_flops / ms["conv"])
            rows.append(AsscRow(c, s, batch, mode, flops / 1e9, ms, fraction))
    return rows


def rows_as_dicts(rows) -> list[dict]:
    return [asdict(r) for r in rows]


# The CPU preset of configs/cpu.yaml as `echoseg bench model` times it.
CPU_PRESET = {"variant": "sscf", "width": 0.25, "window": 3, "size": 112}


def measure_ratios(*, width: float, size: int, frames: int, batch_size: int, log) -> dict[str, float]:
    """sscf k=3 against the two readings of the paper's k = 1: one frame, or a shared encoder over 3 frames."""
    sscf3 = ("sscf", {"width": width, "window": 3})
    ratios = {}
    for label, other in (("sscf k=3 : sscf k=1 (single frame)", ("sscf", {"width": width, "window": 1})),
                         ("sscf k=3 : baseline k=3 (shared encoder)", ("baseline", {"width": width, "window": 3}))):
        ratios[label] = interleaved_ratio(sscf3, other, size=size, frames=frames, batch_size=batch_size)
        log(f"{label}: {ratios[label]:.2f}")
    return ratios


def measure_preset(quick: bool, frames: int, log) -> dict:
    """Whole-video frames/s of the CPU preset in each mode (BatchNorm folded)."""
    preset = dict(CPU_PRESET)
    if quick:
        preset["size"] = 64
    model = fold_batchnorm(create_model(preset["variant"], width=preset["width"], window=preset["window"]))
    fps = {}
    for mode in ("fp32", "channels_last", "bf16"):
        ms = video_ms_per_frame(model, mode, preset["size"], frames, batch_size=16, reps=2)
        fps[mode] = 1e3 / ms
        log(f"preset {mode}: {fps[mode]:.1f} frames/s")
    return {**preset, "frames": frames, "frames_per_s": fps}


@dataclass
class BenchmarkPlan:
    """What `echoseg bench model` measures: the model sweep, and optionally ASSC, ratios, CPU preset."""

    variants: list[str]
    windows: list[int]
    time_windows: list[int]  # windows timed; the others get params and FLOPs only
    time_variants: set[str]  # variants timed
    size: int = 256
    width: float = 1.0
    modes: list[str] = field(default_factory=lambda: list(MODES))
    frames: int = 8
    batch_size: int = 4
    reps: int = 1
    assc: bool = True
    ratios: bool = True
    preset: bool = True
    quick: bool = False  # the CPU preset at 64x64 over 16 frames


@dataclass
class BenchmarkResult:
    models: list[ModelRow]
    assc: list[AsscRow] | None = None
    ratios: dict[str, float] | None = None
    cpu_preset: dict | None = None


def run_benchmark(plan: BenchmarkPlan, log: Callable[[str], None] = lambda s: None) -> BenchmarkResult:
    """Every measurement of `plan`, in one process so that its ratios are comparable."""
    rows = []
    for variant in plan.variants:
        rows += benchmark_models([variant], plan.windows, size=plan.size, width=plan.width, modes=plan.modes,
                                 frames=plan.frames, batch_size=plan.batch_size, reps=plan.reps,
                                 time_windows=plan.time_windows if variant in plan.time_variants else (), log=log)
    result = BenchmarkResult(rows)
    if plan.assc:
        assc_modes = [m for m in ("fp32", "channels_last") if m in plan.modes] or ["fp32"]
        result.assc = benchmark_assc(width=plan.width, size=plan.size, modes=assc_modes, reps=max(1, plan.reps))
    if plan.ratios:
        result.ratios = measure_ratios(width=plan.width, size=plan.size, frames=plan.frames,
                                       batch_size=plan.batch_size, log=log)
    if plan.preset:
        result.cpu_preset = measure_preset(quick=plan.quick, frames=16 if plan.quick else 64, log=log)
    return result
