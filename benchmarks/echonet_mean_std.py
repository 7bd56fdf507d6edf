"""Per-channel mean and std of EchoNet-Dynamic videos in 0-255, as EchoNet computes them for its
segmentation network (`echonet.utils.get_mean_and_std`: every pixel of every frame of the sampled
videos, colour channels in RGB order as its `loadvideo` returns them).

    python -m benchmarks.echonet_mean_std VIDEOS_FOLDER [--samples 128]

EchoNet samples 128 training videos at random; with --samples 0 every video is used. The defaults
of `echonet_deeplabv3` (ECHONET_MEAN / ECHONET_STD) come from this script on the 203 real videos of
../shared/realdata (docs/echonet_weights.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--samples", type=int, default=0, help="videos drawn at random (seed 0); 0 = all (default)")
    args = parser.parse_args(argv)
    paths = sorted(args.folder.rglob("*.avi"))
    if args.samples and args.samples < len(paths):
        paths = [paths[i] for i in sorted(np.random.default_rng(0).choice(len(paths), args.samples, replace=False))]
    n, s1, s2 = 0, np.zeros(3), np.zeros(3)
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).reshape(-1, 3).astype(np.float64)
            n += len(rgb)
            s1 += rgb.sum(axis=0)
            s2 += (rgb ** 2).sum(axis=0)
        capture.release()
    mean = s1 / n
    std = np.sqrt(s2 / n - mean ** 2)
    print(f"{len(paths)} videos, {n} pixels")
    print("mean (R, G, B):", ", ".join(f"{v:.3f}" for v in mean))
    print("std  (R, G, B):", ", ".join(f"{v:.3f}" for v in std))


if __name__ == "__main__":
    main()
