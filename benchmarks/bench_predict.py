"""End-to-end `predict` throughput (decode + model + analysis + writing) with a per-stage breakdown.

Writes N synthetic beating-ellipse AVIs (MJPG, like EchoNet) to a temporary folder, then runs
`predict_videos` on them once to warm up (not timed) and once timed with `overwrite=True`.

    PYTHONPATH=src python benchmarks/bench_predict.py --model sscf --width 0.25 --threads 2
    PYTHONPATH=src python benchmarks/bench_predict.py --checkpoint runs/x/checkpoints/best --bf16

Stages: decode and write run in background threads (overlapped with the model), so their sums can
exceed their share of the wall time; `decode_wait` is what the model actually waited for input.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch


def synthetic_avi(path: Path, frames: int, size: int, seed: int, fps: float = 50.0) -> None:
    """A dark ellipse whose size beats at ~70 bpm, on speckle-like noise; 3-channel MJPG like EchoNet."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    period = 60.0 / 70.0 * fps
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    for t in range(frames):
        s = 1.0 + 0.2 * np.cos(2 * np.pi * t / period)
        inside = ((yy - size * 0.45) / (size * 0.28 * s)) ** 2 + ((xx - size * 0.55) / (size * 0.14 * s)) ** 2 <= 1
        frame = np.clip(rng.normal(140, 30, (size, size)), 0, 255)
        frame[inside] = rng.normal(25, 8, int(inside.sum()))
        writer.write(np.repeat(frame.astype(np.uint8)[..., None], 3, axis=-1))
    writer.release()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="echoseg weights or run folder (else --model/--width)")
    p.add_argument("--model", default="sscf", help="registered model name when no checkpoint (untrained weights)")
    p.add_argument("--width", type=float, default=0.25, help="channel width multiplier when no checkpoint")
    p.add_argument("--size", type=int, default=112, help="frame size of the synthetic videos and model input")
    p.add_argument("--videos", type=int, default=4, help="number of synthetic videos")
    p.add_argument("--frames", type=int, default=100, help="frames per video")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--no-overlay", action="store_true", help="skip overlay video and GIF")
    p.add_argument("--json", default=None, help="also write the result as JSON here")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    from echoseg.inference.predict import predict_videos
    from echoseg.inference.segmenter import Segmenter, load_segmenter

    autocast = torch.bfloat16 if args.bf16 else None
    speed = dict(batch_size=args.batch_size, autocast_dtype=autocast, channels_last=args.channels_last)
    if args.checkpoint:
        segmenter = load_segmenter(args.checkpoint, **speed)
        label = f"{segmenter.weights.model} {segmenter.weights.model_cfg}"
    else:
        from echoseg.models.registry import create_model

        torch.manual_seed(0)  # untrained weights: fixed, so runs segment (and measure) the same masks
        segmenter = Segmenter(create_model(args.model, width=args.width), (args.size, args.size), **speed)
        label = f"{args.model} width={args.width} (untrained)"
    input_size = segmenter.input_size

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        for i in range(args.videos):
            synthetic_avi(tmp / "in" / f"v{i}.avi", args.frames, args.size, seed=i)
        kwargs = dict(overlay=not args.no_overlay, progress=False)
        predict_videos([tmp / "in" / "v0.avi"], segmenter, tmp / "warm", **kwargs)  # first-call costs, not timed
        t0 = time.perf_counter()
        report = predict_videos([tmp / "in"], segmenter, tmp / "out", overwrite=True, **kwargs)
        wall = time.perf_counter() - t0

    frames = report.frames
    result = {
        "model": label, "input": list(input_size), "videos": args.videos, "frames": frames,
        "threads": torch.get_num_threads(), "bf16": args.bf16, "channels_last": args.channels_last,
        "overlay": not args.no_overlay, "batch_size": args.batch_size,
        "end_to_end_fps": frames / wall,
        "stage_ms_per_frame": {k: 1000 * v / frames for k, v in report.seconds.items() if k != "total"},
        "stage_fps": {k: frames / v for k, v in report.seconds.items() if k != "total" and v > 0},
    }
    print(f"{label}, {input_size[0]}x{input_size[1]}, {args.videos} videos x {args.frames} frames, "
          f"{result['threads']} threads, bf16={args.bf16}, channels_last={args.channels_last}, "
          f"overlay={not args.no_overlay}")
    print(f"end to end: {result['end_to_end_fps']:.1f} frames/s")
    for stage, ms in result["stage_ms_per_frame"].items():
        print(f"  {stage:12s} {ms:7.2f} ms/frame")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
