"""Experiment: does our synthetic tissue texture differ from real EchoNet-Dynamic video where the model looks?

    python benchmarks/experiments/texture_bands.py REAL_VIDEOS_DIR SYNTH_DIR [SYNTH_DIR ...] [--size 64] [--videos 30]

REAL_VIDEOS_DIR holds real *.avi (never committed); each SYNTH_DIR a native-layout dataset's cases/*.npz (or
*.npz directly). For 8 frames spread over each video's first 80, inside the fan (pixels ever lit, eroded by 3
px), the SD of five spatial-frequency bands: differences of Gaussian blurs at sigma 0 | 0.7 | 1.5 | 3 | 6 | 12
px, then the frame's SD and mean. `--size 64` first shrinks the frames as predict feeds the built-in model
(area interpolation to 64 x 64); the default measures them as stored (112 x 112). Prints each dataset's
per-video means and z = (ours - real) / real SD per band.

Why: by eye at 112 px our tissue shows a coarse speckle with dark holes where real tissue is finer and
smoother (benchmarks/RESULTS.md, "Where the remaining gap looks to be"), and the realism statistics do not
see it. This measures it, at the size the model sees too. Results: RESULTS.md ("Tissue texture by
spatial frequency").
"""
import argparse
import glob
from pathlib import Path

import cv2
import numpy as np

SIGMAS = (0.0, 0.7, 1.5, 3.0, 6.0, 12.0)
FRAMES = 8
FIRST = 80


def band_energies(video: np.ndarray, size: int | None) -> np.ndarray:
    """(T, H, W) grey -> mean over FRAMES frames of [SD of each band..., frame SD, frame mean] inside the fan."""
    video = video[:FIRST].astype(np.float32)
    if size:
        video = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in video])
    fan = cv2.erode((video.max(0) > 8).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    rows = []
    for frame in video[:: max(1, len(video) // FRAMES)][:FRAMES]:
        blurred = [frame] + [cv2.GaussianBlur(frame, (0, 0), s) for s in SIGMAS[1:]]
        bands = [(blurred[i] - blurred[i + 1])[fan].std() for i in range(len(SIGMAS) - 1)]
        rows.append(bands + [frame[fan].std(), frame[fan].mean()])
    return np.mean(rows, axis=0)


def read_avi(path: str) -> np.ndarray:
    capture = cv2.VideoCapture(path)
    frames = []
    while len(frames) < FIRST:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.astype(np.float32).mean(-1))
    capture.release()
    return np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real", help="folder of real *.avi")
    parser.add_argument("synthetic", nargs="+", help="native-layout synthetic datasets (cases/*.npz)")
    parser.add_argument("--size", type=int, default=0, help="shrink frames to SIZE x SIZE first (0: as stored)")
    parser.add_argument("--videos", type=int, default=30, help="videos per dataset, first in name order")
    args = parser.parse_args()
    real = np.array([band_energies(read_avi(p), args.size)
                     for p in sorted(glob.glob(str(Path(args.real) / "*.avi")))[: args.videos]])
    names = [f"{a:g}-{b:g}px" for a, b in zip(SIGMAS[:-1], SIGMAS[1:], strict=True)] + ["frame SD", "mean"]
    print(f"size {args.size or 'as stored'}; {len(real)} real videos")
    print("| dataset | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| real, mean (SD) | " + " | ".join(f"{m:.1f} ({s:.1f})" for m, s in zip(real.mean(0), real.std(0), strict=True)) + " |")
    for root in args.synthetic:
        files = sorted(glob.glob(str(Path(root) / "cases" / "*.npz"))) or sorted(glob.glob(str(Path(root) / "*.npz")))
        ours = np.array([band_energies(np.load(p)["video"], args.size) for p in files[: args.videos]])
        z = (ours.mean(0) - real.mean(0)) / real.std(0)
        print(f"| {root} (z) | " + " | ".join(f"{m:.1f} ({v:+.1f})" for m, v in zip(ours.mean(0), z, strict=True)) + " |")


if __name__ == "__main__":
    main()
