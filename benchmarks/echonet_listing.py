"""Time EchoNetReader listing at EchoNet-Dynamic's scale (10,030 videos, 421,260 tracing rows).

The videos are empty placeholder files: listing must not decode (or even open) them.
Run: PYTHONPATH=src python benchmarks/echonet_listing.py [--videos 10030]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from echoseg.data.readers.echonet import EchoNetReader

SPLITS = ("TRAIN",) * 7465 + ("VAL",) * 1288 + ("TEST",) * 1277


def write_tables(root: Path, n_videos: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "Videos").mkdir(parents=True)
    files, traces = ["FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split"], ["FileName,X1,Y1,X2,Y2,Frame"]
    chord_y = np.linspace(25, 75, 20)
    for i in range(n_videos):
        name = f"0X{i:014X}"
        n_frames = int(rng.integers(100, 450))
        files.append(f"{name},55.0,30.0,70.0,112,112,50,{n_frames},{SPLITS[i % len(SPLITS)]}")
        ed = int(rng.integers(0, n_frames))
        for frame, half in ((ed, 12.0), ((ed + n_frames // 2) % n_frames, 8.0)):
            traces.append(f"{name}.avi,62.0,20.0,62.0,80.0,{frame}")
            traces += [f"{name}.avi,{62 - half:.3f},{y:.3f},{62 + half:.3f},{y:.3f},{frame}" for y in chord_y]
        (root / "Videos" / f"{name}.avi").touch()
    (root / "FileList.csv").write_text("\n".join(files) + "\n")
    (root / "VolumeTracings.csv").write_text("\n".join(traces) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=10030, help="number of videos to list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(Path(tmp), args.videos)
        start = time.perf_counter()
        reader = EchoNetReader(tmp)
        records = reader.records()
        listed = time.perf_counter() - start
        start = time.perf_counter()
        efs = [reader.tracing_ef(r.case_id) for r in records]
        tracing = time.perf_counter() - start
    print(f"listed {len(records)} videos in {listed:.2f} s ({len(reader.problems)} problems); "
          f"tracing EF for all in {tracing:.2f} s (median {np.median(efs):.1f} %)")


if __name__ == "__main__":
    main()
