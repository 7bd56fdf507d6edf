"""Synthetic generator speed: issue 2 asks for 100 videos x 64 frames at 112x112 in under 30 s on 2 cores.

    python -m benchmarks.bench_synth [--videos 100] [--frames 64] [--size 112] [--write echonet]

Prints generation seconds and videos/s, and with --write the extra time to write that layout.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cv2
import torch

from echoseg.data.synthetic import DIFFICULTIES, generate_dataset, write_camus, write_echonet, write_synthetic

WRITERS = {"echonet": write_echonet, "camus": write_camus, "synthetic": write_synthetic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100, help="videos to generate")
    parser.add_argument("--frames", type=int, default=64, help="frames per video")
    parser.add_argument("--size", type=int, default=112, help="frame size in pixels")
    parser.add_argument("--difficulty", default="medium", choices=DIFFICULTIES, help="appearance preset")
    parser.add_argument("--write", choices=sorted(WRITERS), help="also time writing this layout")
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads (the target machine has 2 cores)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    videos = generate_dataset(args.videos, 0, frames=args.frames, size=args.size, difficulty=args.difficulty)
    seconds = time.perf_counter() - start
    print(f"generate {args.videos} videos x {args.frames} frames at {args.size}x{args.size} ({args.difficulty}): "
          f"{seconds:.2f} s, {args.videos / seconds:.2f} videos/s (target: < 30 s for 100 x 64 x 112)")
    if args.write:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            WRITERS[args.write](folder, videos)
            print(f"write {args.write}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
