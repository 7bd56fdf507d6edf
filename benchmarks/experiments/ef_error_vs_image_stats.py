"""Experiment: does a real video's EF error follow its image statistics (gain, contrast, speckle)?

    python benchmarks/experiments/ef_error_vs_image_stats.py REAL_BENCH_JSON VIDEOS_DIR

REAL_BENCH_JSON is `benchmarks.bench_real`'s real_bench.json (per-video predicted and FileList EF), VIDEOS_DIR
the AVIs it ran on. Prints the Spearman correlation of the signed and absolute EF error with per-video
statistics of the pixels inside the fan. If the error followed global brightness or contrast, a per-video
intensity normalization before the model could remove part of it; results: benchmarks/RESULTS.md
("Does the EF error follow the image statistics?").
"""
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr

from echoseg.data.files import read_video_frames


def statistics(frames: np.ndarray) -> dict[str, float]:
    fan = frames.max(0) > 10  # pixels that are ever lit: the sector
    inside = frames[:, fan]
    smooth = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in frames])
    h, w = frames.shape[1:]
    return {"mean grey": float(inside.mean()), "95th percentile": float(np.percentile(inside, 95)),
            "10th percentile": float(np.percentile(inside, 10)), "share below 20": float((inside < 20).mean()),
            "fine texture (|x - blur|)": float(np.abs(frames - smooth)[:, fan].mean()),
            "centre mean (LV region)": float(frames[:, int(.27 * h):int(.71 * h), int(.31 * w):int(.67 * w)].mean()),
            "fan share of frame": float(fan.mean()), "frames": float(len(frames))}


def main() -> None:
    bench, videos = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    rows = [(v["ef_pred"] - v["ef_filelist"], statistics(read_video_frames(videos / f"{v['name']}.avi").frames.astype(np.float32)))
            for v in bench["videos"] if v.get("ef_pred") is not None and v.get("ef_filelist") is not None
            and math.isfinite(v["ef_pred"])]
    error = np.array([e for e, _ in rows])
    print(f"{len(rows)} videos with an EF; error mean {error.mean():+.2f}, SD {error.std():.2f}")
    print("| statistic | Spearman with error (p) | with abs. error (p) |\n|---|---|---|")
    for name in rows[0][1]:
        values = np.array([s[name] for _, s in rows])
        signed, absolute = spearmanr(values, error), spearmanr(values, np.abs(error))
        print(f"| {name} | {signed[0]:+.2f} ({signed[1]:.3f}) | {absolute[0]:+.2f} ({absolute[1]:.3f}) |")


if __name__ == "__main__":
    main()
