"""End-to-end `predict` throughput (decode + resize + model + masks + measurements + writing), what
each stage costs, and which thread count and OpenMP wait policy to use.

Writes N synthetic beating-ellipse AVIs (MJPG, like EchoNet) to a temporary folder, then runs
`predict_videos` on them once to warm up (not timed) and once timed with `overwrite=True`.

    # one setting (the CPU preset's shape, untrained: sscf width 0.25 at 64x64 on 112x112 videos)
    python -m benchmarks.bench_predict --model sscf --width 0.25 --size 64 --video-size 112 --no-overlay
    python -m benchmarks.bench_predict --checkpoint runs/demo/train --channels-last --no-overlay
    # what each stage costs, one after the other on one thread (no overlap)
    python -m benchmarks.bench_predict --checkpoint runs/demo/train --stages
    # threads x wait policy, each in a fresh process (the policy is read when OpenMP starts), interleaved
    python -m benchmarks.bench_predict --checkpoint runs/demo/train --no-overlay --matrix --repeats 3

`--threads default` and `--wait-policy default` are what `echoseg predict` does when not told
(`echoseg.threads`); `unset` leaves OMP_WAIT_POLICY alone (libgomp spins before sleeping).
Stages in the end-to-end run: decode and write run in background threads (overlapped with the
model), so their sums can exceed their share of the wall time; `decode_wait` is what the model
actually waited for input.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = {"default": None, "unset": "", "passive": "PASSIVE", "active": "ACTIVE"}


def synthetic_avi(path: Path, frames: int, size: int, seed: int, fps: float = 50.0) -> None:
    """A dark ellipse whose size beats at ~70 bpm, on speckle-like noise; 3-channel MJPG like EchoNet."""
    import cv2
    import numpy as np

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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="echoseg weights or run folder (else --model/--width)")
    p.add_argument("--model", default="sscf", help="registered model name when no checkpoint (untrained weights)")
    p.add_argument("--width", type=float, default=0.25, help="channel width multiplier when no checkpoint")
    p.add_argument("--size", type=int, default=64, help="model input size when no checkpoint (CPU preset: 64)")
    p.add_argument("--video-size", type=int, default=112, help="frame size of the synthetic videos (EchoNet: 112)")
    p.add_argument("--videos", type=int, default=4, help="number of synthetic videos")
    p.add_argument("--frames", type=int, default=100, help="frames per video")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    p.add_argument("--threads", default="default",
                   help="torch CPU threads: a number, or 'default' (what echoseg predict picks)")
    p.add_argument("--wait-policy", choices=sorted(POLICIES), default="default",
                   help="OMP_WAIT_POLICY: default (echoseg's), unset, passive, active")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--no-overlay", action="store_true", help="skip overlay video and GIF")
    p.add_argument("--stages", action="store_true", help="time each stage alone, serially, instead")
    p.add_argument("--matrix", action="store_true",
                   help="run every --matrix-threads x --matrix-policies setting in its own process, interleaved")
    p.add_argument("--matrix-threads", default="1,2,default", help="thread counts for --matrix")
    p.add_argument("--matrix-policies", default="unset,passive", help="wait policies for --matrix")
    p.add_argument("--repeats", type=int, default=3, help="rounds of --matrix (median reported)")
    p.add_argument("--json", default=None, help="also write the result as JSON here")
    return p.parse_args(argv)


def set_wait_policy(name: str) -> None:
    """Before torch (and its OpenMP) is imported."""
    value = POLICIES[name]
    if value is None:
        from echoseg.threads import configure_openmp

        configure_openmp()
    elif value == "":
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = value


def build_segmenter(args):
    import torch

    from echoseg.inference.segmenter import Segmenter, load_segmenter

    autocast = torch.bfloat16 if args.bf16 else None
    speed = dict(batch_size=args.batch_size, autocast_dtype=autocast, channels_last=args.channels_last)
    if args.checkpoint:
        segmenter = load_segmenter(args.checkpoint, **speed)
        return segmenter, f"{segmenter.weights.model} {segmenter.weights.model_cfg}"
    from echoseg.models.registry import create_model

    torch.manual_seed(0)  # untrained weights: fixed, so runs segment (and measure) the same masks
    model = create_model(args.model, width=args.width)
    return Segmenter(model, (args.size, args.size), **speed), f"{args.model} width={args.width} (untrained)"


def run_once(args) -> dict:
    set_wait_policy(args.wait_policy)
    import torch

    from echoseg.inference.predict import PredictSettings, predict_videos
    from echoseg.threads import default_threads

    threads = default_threads() if args.threads == "default" else int(args.threads)
    torch.set_num_threads(threads)
    segmenter, label = build_segmenter(args)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        for i in range(args.videos):
            synthetic_avi(tmp / "in" / f"v{i}.avi", args.frames, args.video_size, seed=i)
        kwargs = dict(overlay=not args.no_overlay, progress=False)
        predict_videos([tmp / "in" / "v0.avi"], segmenter, tmp / "warm", PredictSettings(**kwargs))  # first-call costs, not timed
        t0 = time.perf_counter()
        report = predict_videos([tmp / "in"], segmenter, tmp / "out", PredictSettings(overwrite=True, **kwargs))
        wall = time.perf_counter() - t0
    frames = report.frames
    return {
        "model": label, "input": list(segmenter.input_size), "video_size": args.video_size, "videos": args.videos,
        "frames": frames, "threads": torch.get_num_threads(), "threads_option": args.threads,
        "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"), "wait_policy_option": args.wait_policy,
        "bf16": args.bf16, "channels_last": args.channels_last, "overlay": not args.no_overlay,
        "batch_size": args.batch_size, "load_average": os.getloadavg(), "end_to_end_fps": frames / wall,
        "stage_ms_per_frame": {k: 1000 * v / frames for k, v in report.seconds.items() if k != "total"},
    }


def run_stages(args) -> dict:
    """Each stage of one video alone, on the thread settings given, best of 3: where the time goes."""
    set_wait_policy(args.wait_policy)
    import numpy as np
    import torch

    from echoseg.data.inputs import read_video
    from echoseg.data.resize import resize_probs, resize_video
    from echoseg.inference.predict import analyse, summary_row, write_video_outputs
    from echoseg.threads import default_threads

    torch.set_num_threads(default_threads() if args.threads == "default" else int(args.threads))
    segmenter, label = build_segmenter(args)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthetic_avi(tmp / "v.avi", args.frames, args.video_size, seed=0)
        n = args.frames

        def best(fn, reps=3):
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                out = fn()
                times.append(time.perf_counter() - t0)
            return 1000 * min(times) / n, out

        stages = {}
        stages["decode"], video = best(lambda: read_video(tmp / "v.avi"))
        stages["resize to model"], small = best(lambda: resize_video(video.frames, segmenter.input_size))
        segmenter.model_probs(small)  # warm-up
        stages["model"], probs = best(lambda: segmenter.model_probs(small))
        size = video.frames.shape[1:]
        stages["resize back"], big = best(lambda: [resize_probs(p[None], size)[0] for p in probs])
        stages["mask rule"], masks = best(lambda: np.stack([segmenter.mask_rule(p) for p in big]))
        stages["analysis"], pred = best(lambda: analyse(video, masks))
        row = summary_row("v", pred)
        stages["write"], _ = best(lambda: write_video_outputs(tmp / "o", pred, row, overlay=not args.no_overlay))
    return {"model": label, "input": list(segmenter.input_size), "video_size": args.video_size, "frames": n,
            "threads": torch.get_num_threads(), "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            "bf16": args.bf16, "channels_last": args.channels_last, "overlay": not args.no_overlay,
            "load_average": os.getloadavg(), "stage_ms_per_frame": stages,
            "serial_fps": 1000 / sum(stages.values())}


def run_matrix(args) -> dict:
    """Every (threads, policy) in a fresh process, rounds interleaved; median frames/s and % of the best."""
    settings = [(t, p) for t in args.matrix_threads.split(",") for p in args.matrix_policies.split(",")]
    passthrough = [a for a in sys.argv[1:] if a != "--matrix"]
    results: dict[str, list[dict]] = {f"{t}/{p}": [] for t, p in settings}
    for round_ in range(args.repeats):
        for t, p in settings:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                cmd = [sys.executable, __file__, *passthrough, "--threads", t, "--wait-policy", p, "--json", out.name]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                result = json.loads(Path(out.name).read_text())
            results[f"{t}/{p}"].append(result)
            print(f"round {round_ + 1}: threads {t} ({result['threads']}), wait policy {p}: "
                  f"{result['end_to_end_fps']:.1f} frames/s (load {result['load_average'][0]:.1f})", flush=True)
    medians = {k: statistics.median(r["end_to_end_fps"] for r in v) for k, v in results.items()}
    top = max(medians.values())
    table = {k: {"median_fps": medians[k], "percent_of_best": 100 * medians[k] / top,
                 "runs_fps": [r["end_to_end_fps"] for r in v], "threads": v[0]["threads"],
                 "load_average": [r["load_average"][0] for r in v]} for k, v in results.items()}
    print("\n| threads | wait policy | frames/s (median) | % of best | runs |")
    print("|---|---|---|---|---|")
    for (t, p), key in zip(settings, table, strict=True):
        row = table[key]
        print(f"| {t} ({row['threads']}) | {p} | {row['median_fps']:.1f} | {row['percent_of_best']:.0f}% | "
              f"{', '.join(f'{x:.1f}' for x in row['runs_fps'])} |")
    return {"matrix": table}


def main() -> None:
    args = parse_args()
    if args.matrix:
        result = run_matrix(args)
    elif args.stages:
        result = run_stages(args)
        print(f"{result['model']}, input {result['input']}, {args.video_size}x{args.video_size} video, "
              f"{result['threads']} threads, wait policy {result['wait_policy']}, bf16={args.bf16}, "
              f"channels_last={args.channels_last}, overlay={not args.no_overlay}")
        for stage, ms in result["stage_ms_per_frame"].items():
            print(f"  {stage:16s} {ms:7.2f} ms/frame")
        print(f"  all, one after the other: {result['serial_fps']:.1f} frames/s")
    else:
        result = run_once(args)
        print(f"{result['model']}, input {result['input']}, {args.videos} videos x {args.frames} frames at "
              f"{args.video_size}x{args.video_size}, {result['threads']} threads, wait policy "
              f"{result['wait_policy']}, bf16={args.bf16}, channels_last={args.channels_last}, "
              f"overlay={not args.no_overlay}, load {result['load_average'][0]:.1f}")
        print(f"end to end: {result['end_to_end_fps']:.1f} frames/s")
        for stage, ms in result["stage_ms_per_frame"].items():
            print(f"  {stage:12s} {ms:7.2f} ms/frame")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
