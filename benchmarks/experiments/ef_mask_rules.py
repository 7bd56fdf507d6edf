"""Experiment: can a different mask rule after the network (threshold, convex hull, closing) fix EF on real video?

    python benchmarks/experiments/ef_mask_rules.py hull PREDICT_DIR FILELIST_CSV
    python benchmarks/experiments/ef_mask_rules.py threshold CHECKPOINT|builtin ECHONET_DIR

`hull`: from the masks `echoseg predict` wrote (PREDICT_DIR/NAME/masks.npz, e.g. `bench_real`'s
OUT/predict), each frame's mask is replaced by another rule's (the convex hull of its largest part, of all
parts holding >= 20% or >= 5% of the largest one's pixels; a morphological closing of radius 2 or 4 px), and
the video's EF is recomputed with predict's own ED/ES detection and beat rules. The cavity of an apical view
is near convex, and the real-video sheet shows ES masks that fall apart into an apical and a basal piece,
which predict's largest-component rule then halves.
`threshold`: runs the model once per video (one thread) and thresholds the same probabilities at 0.3-0.7:
if the ES masks that are too small or too large were borderline pixels, moving the threshold would show it.

Both print EF MAE, bias, SD and r against FileList on the even and odd halves of the sorted names and on all:
a rule that helps must help on both halves. Results: benchmarks/RESULTS.md ("Mask rules after the network").
"""
import csv
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from echoseg.data.files import read_video_frames
from echoseg.evaluation.ef import ef_agreement
from echoseg.geometry.masks import clean_mask
from echoseg.inference.phases import beats_from_volumes, detect_phases, flag_beats, lv_volumes, video_ef

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def convex_hull(mask: np.ndarray, min_share: float = 0.0) -> np.ndarray:
    """Filled convex hull of the parts of `mask` holding at least `min_share` of the largest part's pixels."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum_labels(mask, labels, np.arange(1, count + 1))
    kept = np.isin(labels, 1 + np.flatnonzero(sizes >= min_share * sizes.max()))
    out = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(out, cv2.convexHull(cv2.findNonZero(kept.astype(np.uint8))), 1)
    return out.astype(bool)


def closing(mask: np.ndarray, radius: int) -> np.ndarray:
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disc).astype(bool)


MASK_RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as predict writes them": lambda m: m,
    "hull of the largest part": lambda m: convex_hull(clean_mask(m)),
    "hull of parts >= 20% of the largest": lambda m: convex_hull(m, 0.2),
    "hull of parts >= 5% of the largest": lambda m: convex_hull(m, 0.05),
    "closing, radius 2 px": lambda m: closing(m, 2),
    "closing, radius 4 px": lambda m: closing(m, 4),
}


def predict_rule_ef(masks: np.ndarray, fps: float) -> float:
    """The video's EF as predict computes it (area-curve ED/ES, disk volumes, beat rules) from these masks."""
    areas = masks.reshape(len(masks), -1).sum(axis=1).astype(float)
    beats = beats_from_volumes(detect_phases(areas, fps), lv_volumes(masks, None))
    return video_ef(flag_beats(beats, fps)).ef


def print_agreement(estimates: dict[str, dict[str, float]], reference: dict[str, float]) -> None:
    names = sorted(n for n in reference if all(n in e for e in estimates.values()))
    for half, chosen in (("even half", names[0::2]), ("odd half", names[1::2]), ("all", names)):
        print(f"\n| {half} | n | MAE | bias | SD | r |\n|---|---|---|---|---|---|")
        for label, values in estimates.items():
            a = ef_agreement([values[n] for n in chosen], [reference[n] for n in chosen])
            print(f"| {label} | {a['n']} | {a['mae']:.2f} | {a['bias']:+.2f} | {a['sd_diff']:.2f} | {a['pearson_r']:+.2f} |")


def file_list(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {Path(r["FileName"]).stem: r for r in csv.DictReader(f)}


def hull_mode(predict_dir: Path, filelist: Path) -> None:
    rows = file_list(filelist)
    estimates: dict[str, dict[str, float]] = {label: {} for label in MASK_RULES}
    for name in sorted(rows):
        saved = predict_dir / name / "masks.npz"
        if not saved.is_file():
            continue
        with np.load(saved) as z:
            masks, fps = z["masks"], float(z["fps"])
        for label, rule in MASK_RULES.items():
            estimates[label][name] = predict_rule_ef(np.stack([rule(m) for m in masks]), fps)
    print_agreement(estimates, {n: float(r["EF"]) for n, r in rows.items()})


def threshold_mode(checkpoint: str, echonet_dir: Path) -> None:
    import torch

    from echoseg.inference.segmenter import load_segmenter, pretrained_path

    torch.set_num_threads(1)
    segmenter = load_segmenter(pretrained_path() if checkpoint == "builtin" else checkpoint, batch_size=64,
                               channels_last=True)
    rows = file_list(echonet_dir / "FileList.csv")
    estimates: dict[str, dict[str, float]] = {f"threshold {t}": {} for t in THRESHOLDS}
    for name, row in sorted(rows.items()):
        probs = segmenter.probs(read_video_frames(echonet_dir / "Videos" / row["FileName"]).frames)
        for t in THRESHOLDS:
            estimates[f"threshold {t}"][name] = predict_rule_ef(probs >= t, float(row["FPS"]))
    print_agreement(estimates, {n: float(r["EF"]) for n, r in rows.items()})


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("hull", "threshold"):
        sys.exit(__doc__)
    if sys.argv[1] == "hull":
        hull_mode(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        threshold_mode(sys.argv[2], Path(sys.argv[3]))
