"""Experiment: how does the predicted LV change from ED to ES on real video, against synthetic truth?

    python benchmarks/experiments/es_shape.py PREDICT_DIR FILELIST_CSV SYNTH_DIR

PREDICT_DIR: what `echoseg predict` wrote for real videos (NAME/beats.csv and NAME/masks.npz, e.g.
`bench_real`'s OUT/predict); FILELIST_CSV their EchoNet FileList; SYNTH_DIR a native-layout synthetic dataset
(cases/*.npz with the truth labels). Per beat (predict's first three; synthetic: the truth's ED/ES pairs, 80
videos), of the mask at ED and at ES: the ES/ED ratio of the length along the mask's principal axis and of
the width across it, and the downward shift of the centroid, top and bottom (fractions of the frame height).
Prints their medians and IQRs, their correlation with the true EF (FileList; synthetic truth), and
|EF error| of the real beats whose mask moved down at ES by more than 5% of the frame (the mask leaving the
shrinking LV for the atrium below it) against the others.

A mask that follows the heart shortens and narrows more the higher the EF (synthetic truth: r about -0.6
with EF for both); a mask whose changes do not correlate with the true EF carries no EF signal, whatever
its size. Results: benchmarks/RESULTS.md ("How the predicted LV changes from ED to ES").
"""
import csv
import glob
import sys
from pathlib import Path

import numpy as np

LEFT_FOR_ATRIUM = 0.05  # centroid moving down by more than this share of the frame at ES


def extent(mask: np.ndarray) -> tuple[float, float, float, float, float]:
    """(length along the principal axis, width across it, centroid y, top y, bottom y), pixels."""
    ys, xs = np.nonzero(mask)
    points = np.stack([xs, ys], 1).astype(float)
    centred = points - points.mean(0)
    _, vectors = np.linalg.eigh(np.cov(centred.T))
    return (float(np.ptp(centred @ vectors[:, -1])), float(np.ptp(centred @ vectors[:, 0])),
            float(ys.mean()), float(ys.min()), float(ys.max()))


def change(ed: np.ndarray, es: np.ndarray) -> list[float] | None:
    """[length ratio, width ratio, centroid shift, top shift, bottom shift] (shifts: + is down, / height)."""
    if ed.sum() < 10 or es.sum() < 10:
        return None
    e, s = extent(ed), extent(es)
    h = ed.shape[0]
    return [s[0] / e[0], s[1] / e[1], (s[2] - e[2]) / h, (s[3] - e[3]) / h, (s[4] - e[4]) / h]


def real_beats(predict_dir: Path, filelist: Path) -> np.ndarray:
    """Rows [true EF, predicted beat EF, *change]."""
    true_ef = {r["FileName"].removesuffix(".avi"): float(r["EF"]) for r in csv.DictReader(open(filelist))}
    rows = []
    for folder in sorted(p for p in predict_dir.iterdir() if (p / "beats.csv").is_file()):
        masks = np.load(folder / "masks.npz")["masks"]
        for beat in list(csv.DictReader(open(folder / "beats.csv")))[:3]:
            c = change(masks[int(beat["ed_frame"])], masks[int(beat["es_frame"])])
            if c is not None and folder.name in true_ef:
                rows.append([true_ef[folder.name], float(beat["ef"]), *c])
    return np.array(rows)


def synthetic_beats(root: Path, videos: int = 80) -> np.ndarray:
    """Rows [true EF, true EF, *change] from the truth's LV cavity (label 1)."""
    rows = []
    for path in sorted(glob.glob(str(root / "cases" / "*.npz")))[:videos]:
        case = np.load(path)
        cavity = case["labels"] == 1
        for ed, es in zip(case["ed_frames"][:3], case["es_frames"][:3], strict=False):
            c = change(cavity[ed], cavity[es])
            if c is not None:
                rows.append([float(case["ef"]), float(case["ef"]), *c])
    return np.array(rows)


def describe(name: str, rows: np.ndarray) -> None:
    labels = ("length ES/ED", "width ES/ED", "centroid shift", "top shift", "bottom shift")
    print(f"{name}: {len(rows)} beats")
    for i, label in enumerate(labels, start=2):
        q1, median, q3 = np.percentile(rows[:, i], [25, 50, 75])
        r = np.corrcoef(rows[:, 0], rows[:, i])[0, 1]
        print(f"  {label:15s} median {median:+.3f}  IQR {q1:+.3f}..{q3:+.3f}  r with true EF {r:+.2f}")


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    real = real_beats(Path(sys.argv[1]), Path(sys.argv[2]))
    describe("real video, predicted masks", real)
    moved = real[:, 4] > LEFT_FOR_ATRIUM
    error = np.abs(real[:, 1] - real[:, 0])
    print(f"  beats whose mask moved down > {LEFT_FOR_ATRIUM:.0%} of the frame at ES: {moved.mean():.0%}, "
          f"|beat EF error| {error[moved].mean():.1f} against {error[~moved].mean():.1f} for the others")
    describe("synthetic truth", synthetic_beats(Path(sys.argv[3])))


if __name__ == "__main__":
    main()
