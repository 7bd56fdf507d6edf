"""`echoseg bench predict`: frames/s of each inference engine and mode, in one process, with the conv ceiling.

Every measurement here runs in the same process, interleaved (a burst of load elsewhere hits every
row alike), and each model timing is followed by a plain 3x3 conv timing (the encoder's shapes,
float32): the row's `ceiling_ratio` is frames/s divided by that conv GFLOP/s, so rows measured on
different CPUs or under different load compare by ratio. Agreement: each row's masks against
PyTorch NCHW float32 on a realistic synthetic video (mean per-frame Dice).

Rows (model only, video already at the input size): torch in NCHW, channels_last and bfloat16 autocast
(channels_last), onnxruntime fp32 (spinning threads on and off) and int8, at each batch size. End to end: `predict_videos`
(decode, fan detection, model, ED/ES, EF, writing; overlays off) on synthetic AVIs, per engine.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from echoseg.geometry.masks import frame_dice
from echoseg.inference.engines import OnnxRuntimeEngine, TorchEngine
from echoseg.inference.segmenter import Segmenter
from echoseg.models.benchmark import ceiling_shapes, conv_ceiling

log = logging.getLogger(__name__)


@dataclass
class EngineRow:
    engine: str
    mode: str
    batch_size: int
    frames_per_s: float
    ceiling_gflops: float
    ceiling_ratio: float  # frames/s per conv GFLOP/s measured right after
    dice_vs_torch: float | None = None


def _engines(segmenter: Segmenter, modes: list[str], batch: int, onnx_paths: dict[str, Path]):
    """(engine name, mode, engine) for every mode requested that can run here."""
    model, threads = segmenter.model, torch.get_num_threads()
    for mode in modes:
        if mode in ("nchw", "channels_last"):
            yield "torch", mode, TorchEngine(model, device=torch.device("cpu"), batch_size=batch,
                                             channels_last=mode == "channels_last")
        elif mode == "bf16":  # predict --engine torch --bf16: autocast on channels_last maps
            yield "torch", mode, TorchEngine(model, device=torch.device("cpu"), batch_size=batch,
                                             autocast_dtype=torch.bfloat16, channels_last=True)
        elif mode in onnx_paths or mode == "fp32_spinning":
            path = onnx_paths["fp32" if mode == "fp32_spinning" else mode]
            yield "onnxruntime", mode, OnnxRuntimeEngine(path, segmenter.window, batch_size=batch, threads=threads,
                                                         precision="int8" if mode == "int8" else "fp32",
                                                         spinning=mode == "fp32_spinning")


def time_engines(segmenter: Segmenter, modes: list[str], batch_sizes: list[int], onnx_paths: dict[str, Path], *,
                 frames: int, reps: int, check_video: np.ndarray) -> list[EngineRow]:
    """One row per (engine mode, batch size): best of `reps` interleaved timings on a random video."""
    video = np.random.default_rng(0).integers(0, 256, (frames, *segmenter.input_size), dtype=np.uint8)
    shapes = ceiling_shapes(segmenter.weights.model_cfg.get("width", 1.0) if segmenter.weights else 1.0,
                            segmenter.input_size[0])
    reference = None
    rows = []
    for batch in batch_sizes:
        engines = list(_engines(segmenter, modes, batch, onnx_paths))
        best = {mode: (float("inf"), 0.0) for _, mode, _ in engines}
        for _, _, engine in engines:
            engine.video_probs(video)  # warm-up
        conv_ceiling("fp32", shapes, reps=0)
        for _ in range(reps):
            for _, mode, engine in engines:
                start = time.perf_counter()
                engine.video_probs(video)
                seconds = time.perf_counter() - start
                ceiling = conv_ceiling("fp32", shapes, reps=1, warm=False)
                if seconds < best[mode][0]:
                    best[mode] = (seconds, ceiling)
        for name, mode, engine in engines:
            masks = np.stack([segmenter.mask_rule(p) for p in engine.video_probs(check_video)])
            if reference is None and mode == "nchw":
                reference = masks
            seconds, ceiling = best[mode]
            rows.append(EngineRow(name, mode, batch, round(frames / seconds, 1), round(ceiling, 1),
                                  round(frames / seconds / ceiling, 3),
                                  round(float(frame_dice(masks, reference).mean()), 5) if reference is not None else None))
    return rows


def end_to_end(segmenter: Segmenter, engines: dict[str, object], n_videos: int, frames: int) -> dict[str, float]:
    """predict_videos frames/s (overlays off, no progress bar) on `n_videos` synthetic AVIs, per engine,
    after one warm-up pass; each engine's pass runs twice, interleaved, best kept."""
    from echoseg.data.synthetic.generator import generate_video
    from echoseg.data.synthetic.writers import write_avi
    from echoseg.inference.predict import PredictSettings, predict_videos

    settings = PredictSettings(overwrite=True, overlay=False, progress=False)
    logging.getLogger("echoseg.inference.predict").setLevel(logging.WARNING)  # per-video notes would flood the table
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        total = 0
        for seed in range(n_videos):
            video = generate_video(seed, frames=frames, difficulty="realistic")
            write_avi(folder / f"video{seed}.avi", video.sample.video, fps=50.0)
            total += len(video.sample.video)
        best = {name: float("inf") for name in engines}
        for rep in range(3):  # the first pass warms up (decoder, caches)
            for name, engine in engines.items():
                segmenter.use_engine(engine)
                start = time.perf_counter()
                predict_videos([folder], segmenter, Path(tmp) / f"out-{name}", settings)
                if rep:
                    best[name] = min(best[name], time.perf_counter() - start)
    return {name: round(total / seconds, 1) for name, seconds in best.items()}


def rows_as_dicts(rows: list[EngineRow]) -> list[dict]:
    return [asdict(row) for row in rows]


def format_rows(rows: list[EngineRow]) -> str:
    """A markdown table of the engine rows."""
    lines = ["| engine | mode | batch | frames/s | conv GFLOP/s | frames/s per GFLOP/s | Dice vs torch NCHW |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        dice = f"{r.dice_vs_torch:.4f}" if r.dice_vs_torch is not None else "-"
        lines.append(f"| {r.engine} | {r.mode} | {r.batch_size} | {r.frames_per_s:.0f} | {r.ceiling_gflops:.0f} | "
                     f"{r.ceiling_ratio:.2f} | {dice} |")
    return "\n".join(lines)
