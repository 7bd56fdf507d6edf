"""SSCF at the paper's settings on one GPU: inference frames/s per mode and training windows/s.

    python -m benchmarks.bench_gpu                      # 256x256, width 1.0, on cuda (benchmarks/gpu.sh)
    python -m benchmarks.bench_gpu --device cpu --size 64 --width 0.125 --frames 8   # plumbing check

Inference: whole-video `predict_video_probs` (sliding windows of 3, batch of windows) on a
BatchNorm-folded copy, in fp32, fp32 channels_last, bf16 autocast, fp16 autocast and
(optionally) torch.compile'd bf16 channels_last. Training: the mean-teacher `train_step` of the
`paper` preset (forward, losses, backward, Adam, EMA) in fp32 and bf16 autocast. Prints one table;
the paper reports 32 ms/frame on a 2080 Ti (Table 7).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_training import build_trainer, step_rate
from echoseg.models.fold_bn import fold_batchnorm
from echoseg.models.registry import create_model
from echoseg.models.video import predict_video_probs


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def inference_rate(model, video: np.ndarray, device: str, reps: int, **options) -> float:
    """Frames/s of whole-video inference, best of `reps` after one warm-up."""
    predict_video_probs(model, video, device=device, **options)
    best = float("inf")
    for _ in range(reps):
        synchronize(device)
        start = time.perf_counter()
        predict_video_probs(model, video, device=device, **options)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return len(video) / best


def training_rate(size: int, width: float, device: str, amp: str, steps: int, workdir: Path) -> float:
    overrides = [f"data.input_size=[{size},{size}]", f"model.settings.width={width}", f"runtime.device={device}",
                 f"runtime.amp_dtype={amp}", "data.num_workers=0"]
    trainer = build_trainer("paper", 4, workdir, overrides)
    # the Trainer resolves runtime.device itself; before 2026-12-04 it trained on the CPU here (RESULTS.md)
    assert trainer.device.type == torch.device(device).type, f"trainer on {trainer.device}, asked {device}"
    return step_rate(trainer, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a plumbing check")
    parser.add_argument("--size", type=int, default=256, help="input size (paper: 256)")
    parser.add_argument("--width", type=float, default=1.0, help="channel width (paper: 1.0)")
    parser.add_argument("--frames", type=int, default=128, help="frames of the timed video")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per mode (best is kept)")
    parser.add_argument("--train-steps", type=int, default=20, help="timed training steps per mode")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row (slow to compile)")
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")

    model = create_model("sscf", width=args.width, window=3)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    folded = fold_batchnorm(model).to(args.device)
    video = np.random.default_rng(0).integers(0, 256, (args.frames, args.size, args.size), dtype=np.uint8)
    modes = {
        "fp32": {},
        "fp32 channels_last": {"channels_last": True},
        "bf16 autocast": {"autocast_dtype": torch.bfloat16},
        "fp16 autocast": {"autocast_dtype": torch.float16},
        "bf16 channels_last": {"autocast_dtype": torch.bfloat16, "channels_last": True},
    }
    print(f"\nsscf k=3 width {args.width} ({params:.1f} M params), {args.size}x{args.size}, "
          f"video {args.frames} frames, batch {args.batch_size} windows")
    print(f"{'what':<44}{'frames or windows /s':>22}{'ms each':>10}", flush=True)

    def row(name: str, rate: float) -> None:  # printed as measured: a time limit keeps the rows so far
        print(f"{name:<44}{rate:>22.1f}{1000 / rate:>10.2f}", flush=True)

    for name, options in modes.items():
        if args.device == "cpu" and name.startswith("fp16"):
            continue
        row(f"inference {name}", inference_rate(folded, video, args.device, args.reps,
                                                batch_size=args.batch_size, **options))
    with tempfile.TemporaryDirectory() as tmp:
        for amp in ("none", "bf16"):
            row(f"training step (mean teacher, amp {amp})",
                training_rate(args.size, args.width, args.device, amp, args.train_steps, Path(tmp) / amp))
    if not args.no_compile:  # last: compiling takes a minute or more, and may fail where the rest ran
        try:
            compiled = torch.compile(folded)
            compiled.window = folded.window
            row("inference bf16 channels_last compiled",
                inference_rate(compiled, video, args.device, args.reps, batch_size=args.batch_size,
                               autocast_dtype=torch.bfloat16, channels_last=True))
        except Exception as error:  # noqa: BLE001 - report it and keep the table
            print(f"torch.compile row failed: {type(error).__name__}: {str(error).splitlines()[0]}")
    print("paper (Table 7): 32 ms/frame on an RTX 2080 Ti")


if __name__ == "__main__":
    main()
