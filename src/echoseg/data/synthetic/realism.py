"""How close a dataset looks to real EchoNet-Dynamic video: appearance statistics and z-scores.

`dataset_statistics(root)` measures an EchoNet-layout folder (FileList.csv, VolumeTracings.csv,
Videos/*.avi) exactly as the project's measuring script does (`echo_stats.py` in the shared realism
folder, which produced the reference): whole-video statistics (length, frame rate, brightness, the
fan, colour marks, frame-to-frame change) and statistics around each traced LV (wall ring 1-3 px
outside the tracing, the ring beyond it, the blood pool, dropout, speckle size, LV size and place).
`compare(stats)` gives, per statistic, our mean and SD, the real mean and SD and
z = (ours - real) / max(real SD, 5% of the real mean). The reference (`real_echonet_stats.json`,
package data) was measured on real EchoNet-Dynamic A4C videos; the videos are not shipped.

The LV statistics are measured relative to the traced mask: they only mean something for pictures
made without looking at the mask, as the synthetic generator's are (it renders a scene, then images it).

    python -m echoseg.data.synthetic.realism DATASET [--max-videos 50]
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

REFERENCE_FILE = "real_echonet_stats.json"
MAX_FRAMES = 400


def reference_statistics() -> dict:
    """The statistics of real EchoNet-Dynamic A4C video (package data)."""
    return json.loads((resources.files("echoseg.data.synthetic") / REFERENCE_FILE).read_text())


def _read_video(path: Path) -> tuple[np.ndarray | None, float]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < MAX_FRAMES:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return (np.stack(frames) if frames else None), fps


def _tracing_mask(rows: list[list[float]], shape: tuple[int, int]) -> np.ndarray:
    """EchoNet's polygon rule: (X1[1:], Y1[1:]) then (X2[1:], Y2[1:]) reversed, rounded, filled."""
    p = np.asarray(rows, dtype=np.float64)
    polygon = np.concatenate([p[1:, 0:2], p[1:, 2:4][::-1]])
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def _autocorrelation_halfwidth(patch: np.ndarray) -> tuple[float, float]:
    """First lag (px) along x and y where the patch's normalised autocorrelation falls below 0.5."""
    p = patch.astype(np.float64) - patch.mean()
    if p.std() < 1e-6:
        return np.nan, np.nan
    f = np.fft.fft2(p)
    ac = np.fft.fftshift(np.real(np.fft.ifft2(f * np.conj(f))))
    ac /= ac.max()
    cy, cx = np.array(ac.shape) // 2

    def width(line: np.ndarray) -> float:
        below = np.where(line < 0.5)[0]
        return float(below[0]) if len(below) else np.nan

    return width(ac[cy, cx:]), width(ac[cy:, cx])


def _dilate(mask: np.ndarray, size: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)


def _video_statistics(video: np.ndarray, fps: float, acc: dict[str, list[float]]) -> None:
    grey = video.astype(np.float32).mean(-1)
    t = grey.shape[0]
    acc["frames"].append(t)
    acc["fps"].append(fps)
    acc["channel_max_abs_diff"].append(float(np.abs(video[..., 0].astype(int) - video[..., 1]).max()))
    sector = grey.max(0) > 8  # pixels ever lit
    lit = grey[:, sector]
    acc["sector_fraction"].append(float(sector.mean()))
    acc["frame_mean"].append(float(grey.mean()))
    acc["lit_mean"].append(float(lit.mean()))
    acc["lit_p99"].append(float(np.percentile(lit, 99)))
    acc["saturated_fraction"].append(float((lit >= 250).mean()))
    acc["temporal_mean_abs_diff"].append(float(np.abs(np.diff(lit, axis=0)).mean()) if t > 1 else np.nan)
    corr = [np.corrcoef(grey[i][sector], grey[i + 1][sector])[0, 1] for i in range(min(t - 1, 40))]
    acc["frame_to_frame_corr"].append(float(np.nanmean(corr)))


def _lv_statistics(image: np.ndarray, mask: np.ndarray, acc: dict[str, list[float]]) -> None:
    h, w = mask.shape
    ring = _dilate(mask, 7) & ~mask
    outer = _dilate(mask, 15) & ~_dilate(mask, 7)
    core = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ys, xs = np.nonzero(mask)
    acc["lv_area_fraction"].append(float(mask.mean()))
    acc["lv_centroid_x"].append(float(xs.mean() / w))
    acc["lv_centroid_y"].append(float(ys.mean() / h))
    acc["lv_height_fraction"].append(float((ys.max() - ys.min() + 1) / h))
    acc["lv_width_fraction"].append(float((xs.max() - xs.min() + 1) / w))
    if core.sum() > 5:
        acc["blood_pool_mean"].append(float(image[core].mean()))
        acc["blood_pool_std"].append(float(image[core].std()))
    acc["wall_ring_mean"].append(float(image[ring].mean()))
    acc["wall_ring_std"].append(float(image[ring].std()))
    acc["outer_ring_mean"].append(float(image[outer].mean()))
    if core.sum() > 5:  # dropout: ring pixels barely brighter than the blood pool
        acc["wall_dropout_fraction"].append(float((image[ring] < 2 * image[core].mean() + 10).mean()))
    yy, xx = np.nonzero(outer)
    if len(yy):  # speckle size: a 16x16 patch at the brightest pixel of the outer ring
        i = int(np.argmax(image[yy, xx]))
        y0, x0 = int(np.clip(yy[i] - 8, 0, h - 16)), int(np.clip(xx[i] - 8, 0, w - 16))
        wx, wy = _autocorrelation_halfwidth(image[y0 : y0 + 16, x0 : x0 + 16])
        acc["speckle_halfwidth_x"].append(wx)
        acc["speckle_halfwidth_y"].append(wy)


def dataset_statistics(root: str | Path, max_videos: int = 50) -> dict:
    """{"videos": n, statistic: {"n", "mean", "sd", "p10", "p90"}} of an EchoNet-layout folder: the
    traced videos (sorted by name; all listed videos when there are no tracings), at most `max_videos`."""
    root = Path(root)
    with open(root / "FileList.csv", newline="") as handle:
        filelist = {r["FileName"].removesuffix(".avi"): r for r in csv.DictReader(handle)}
    tracings: dict[tuple[str, int], list[list[float]]] = collections.defaultdict(list)
    if (root / "VolumeTracings.csv").is_file():
        with open(root / "VolumeTracings.csv", newline="") as handle:
            for r in csv.DictReader(handle):
                key = (r["FileName"].removesuffix(".avi"), int(float(r["Frame"])))
                tracings[key].append([float(r[k]) for k in ("X1", "Y1", "X2", "Y2")])
    names = sorted({name for name, _ in tracings}) or sorted(filelist)
    names = [n for n in names if (root / "Videos" / f"{n}.avi").is_file()][:max_videos]
    acc: dict[str, list[float]] = collections.defaultdict(list)
    for name in names:
        video, fps = _read_video(root / "Videos" / f"{name}.avi")
        if video is None:
            continue
        _video_statistics(video, fps, acc)
        grey = video.astype(np.float32).mean(-1)
        keys = sorted(k for k in tracings if k[0] == name)
        for key in keys:
            if key[1] >= grey.shape[0]:
                continue
            mask = _tracing_mask(tracings[key], grey.shape[1:])
            if mask.sum() >= 10:
                _lv_statistics(grey[key[1]], mask, acc)
        if len(keys) == 2:  # ED/ES area ratio: a rough 2D "area EF"
            areas = [_tracing_mask(tracings[k], grey.shape[1:]).sum() for k in keys]
            acc["area_change_fraction"].append(float(1 - min(areas) / max(areas)))
    for name in names:
        if filelist.get(name, {}).get("EF"):
            acc["filelist_ef"].append(float(filelist[name]["EF"]))
    out: dict = {"videos": len(names)}
    for key, values in acc.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            out[key] = {"n": int(len(v)), "mean": round(float(v.mean()), 4), "sd": round(float(v.std()), 4),
                        "p10": round(float(np.percentile(v, 10)), 4), "p90": round(float(np.percentile(v, 90)), 4)}
    return out


@dataclass
class Comparison:
    statistic: str
    mean: float
    sd: float
    real_mean: float
    real_sd: float
    z: float  # (mean - real_mean) / max(real_sd, 5% of |real_mean|)


def compare(stats: dict, reference: dict | None = None) -> list[Comparison]:
    """One row per statistic both sides have, sorted by name."""
    reference = reference if reference is not None else reference_statistics()
    rows = []
    for key in sorted(set(stats) & set(reference)):
        if not isinstance(stats[key], dict) or not isinstance(reference[key], dict):
            continue
        ours, real = stats[key], reference[key]
        scale = max(real["sd"], 0.05 * abs(real["mean"]), 1e-9)  # a floor for near-constant statistics
        rows.append(Comparison(key, ours["mean"], ours["sd"], real["mean"], real["sd"], (ours["mean"] - real["mean"]) / scale))
    return rows


def format_table(rows: list[Comparison]) -> str:
    """A markdown table: statistic, ours (mean, SD), real (mean, SD), z."""
    lines = ["| statistic | ours mean | ours SD | real mean | real SD | z |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.statistic} | {r.mean:.3f} | {r.sd:.3f} | {r.real_mean:.3f} | {r.real_sd:.3f} | {r.z:+.1f} |"
              for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="an EchoNet-layout dataset (FileList.csv, VolumeTracings.csv, Videos/)")
    parser.add_argument("--max-videos", type=int, default=50, help="measure at most this many videos (default: 50)")
    args = parser.parse_args()
    print(format_table(compare(dataset_statistics(args.root, args.max_videos))))


if __name__ == "__main__":
    main()
