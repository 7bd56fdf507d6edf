"""Where does predict's EF error on real video come from: frame noise in the volume curve, or the masks?

    python -m benchmarks.ef_error_sources PREDICT_DIR FILELIST_CSV

PREDICT_DIR is `echoseg predict`'s output on EchoNet-Dynamic-layout videos (for example
`bench_real`'s OUT/predict), FILELIST_CSV their FileList.csv (the EF reference; no tracings needed).
It recomputes each video's EF from its per-frame volume curve (frames.csv) with predict's own ED/ES
frames and beat rules (`echoseg.inference.phases`), after smoothing the curve in several ways
(running median, Gaussian) and by two whole-video rules (volume percentiles), and prints EF bias, MAE,
SD and r against FileList for each, on the even and odd halves of the sorted names and on all. Then
the within-video spread of the beats' EFs against the spread of the videos' errors: if beat-to-beat
noise were the error, averaging a video's beats would leave an SD of about sd_beat / sqrt(beats).
Last, which volume carries the error: FileList also gives each video's traced EDV and ESV (mL); predict's
are in pixel units, so each video's log(predicted / traced) volume holds an unknown scale (the depth
setting) common to ED and ES. The scale cancels in the EF, and in the differences between videos: the
EF error is set against the ED and the ES log-ratio (each centred over the videos).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from echoseg.evaluation.ef import ef_agreement
from echoseg.geometry.disks import ejection_fraction
from echoseg.inference.phases import Beat, Phases, flag_beats, pair_beats, video_ef


def beat_rule_ef(volumes: np.ndarray, pairs: list[tuple[int, int]], fps: float) -> float:
    """predict's EF (mean over the beats that count) from a volume curve and fixed (ED, ES) pairs."""
    beats = [Beat(ed=ed, es=es, edv=float(volumes[ed]), esv=float(volumes[es]),
                  ef=ejection_fraction(float(volumes[ed]), float(volumes[es]))) for ed, es in pairs]
    return video_ef(flag_beats(beats, fps)).ef


def percentile_ef(volumes: np.ndarray, low: float, high: float, sigma: float) -> float:
    """Whole-video EF from the low and high percentiles of the Gaussian-smoothed curve (no beats)."""
    esv, edv = np.percentile(gaussian_filter1d(volumes, sigma, mode="nearest"), [low, high])
    return ejection_fraction(float(edv), float(esv)) if edv > 0 else float("nan")


ESTIMATORS: dict[str, Callable[[np.ndarray, list[tuple[int, int]], float], float]] = {
    "predict's rule (raw curve)": lambda v, p, fps: beat_rule_ef(v, p, fps),
    **{f"running median of {w}": (lambda v, p, fps, w=w: beat_rule_ef(median_filter(v, w, mode="nearest"), p, fps))
       for w in (3, 5, 7)},
    **{f"Gaussian sigma {s} frames": (lambda v, p, fps, s=s: beat_rule_ef(gaussian_filter1d(v, s, mode="nearest"), p, fps))
       for s in (1.0, 2.0, 3.0)},
    "percentiles 5-95 (sigma 2)": lambda v, p, fps: percentile_ef(v, 5, 95, 2.0),
    "percentiles 10-90 (sigma 2)": lambda v, p, fps: percentile_ef(v, 10, 90, 2.0),
}


def read_video(folder: Path) -> tuple[np.ndarray, list[tuple[int, int]], list[Beat]]:
    """(volume curve, predict's (ED, ES) pairs, predict's beats with their exclusion reasons)."""
    with open(folder / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    volumes = np.array([float(r["volume"]) for r in rows])
    flags = {kind: [i for i, r in enumerate(rows) if r[kind].strip().lower() in ("1", "true")] for kind in ("is_ed", "is_es")}
    with open(folder / "beats.csv", newline="") as f:
        beats = [Beat(int(r["ed_frame"]), int(r["es_frame"]), float(r["edv"]), float(r["esv"]), float(r["ef"]), r["excluded"])
                 for r in csv.DictReader(f)]
    return volumes, pair_beats(Phases(flags["is_ed"], flags["is_es"])), beats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predict_dir", type=Path, help="echoseg predict's output folder (summary.csv, one folder per video)")
    parser.add_argument("filelist", type=Path, help="FileList.csv with the videos' reference EF")
    args = parser.parse_args(argv)
    with open(args.filelist, newline="") as f:
        reference = {Path(r["FileName"]).stem: float(r["EF"]) for r in csv.DictReader(f)}
    with open(args.predict_dir / "summary.csv", newline="") as f:
        done = {r["name"]: float(r["fps"] or "nan") for r in csv.DictReader(f) if r["status"] == "done"}
    names = sorted(n for n in reference if n in done)
    videos = {n: read_video(args.predict_dir / n) for n in names}
    estimates = {label: {n: rule(videos[n][0], videos[n][1], done[n]) for n in names} for label, rule in ESTIMATORS.items()}

    print(f"{len(names)} videos; EF against FileList (videos without an EF left out: n)")
    for half, chosen in (("even half", names[0::2]), ("odd half", names[1::2]), ("all", names)):
        print(f"\n| {half} | n | MAE | bias | SD | r |\n|---|---|---|---|---|---|")
        for label, values in estimates.items():
            a = ef_agreement([values[n] for n in chosen], [reference[n] for n in chosen])
            print(f"| {label} | {a['n']} | {a['mae']:.2f} | {a['bias']:+.2f} | {a['sd_diff']:.2f} | {a['pearson_r']:+.2f} |")

    spreads, errors, counts = [], [], []
    for n in names:
        used = [b.ef for b in videos[n][2] if b.counts]
        if len(used) >= 2:
            spreads.append(np.std(used, ddof=1))
            errors.append(np.mean(used) - reference[n])
            counts.append(len(used))
    spreads, errors = np.array(spreads), np.array(errors)
    from_beats = float(np.sqrt(np.mean(spreads**2 / np.array(counts))))
    print(f"\n{len(spreads)} videos with 2+ beats that count: beat-to-beat EF SD median {np.median(spreads):.1f} "
          f"(mean {spreads.mean():.1f}); SD of the videos' EF errors {errors.std(ddof=1):.1f}; "
          f"expected from beat noise alone {from_beats:.1f}")
    print_volume_split(args.predict_dir / "summary.csv", args.filelist)


def print_volume_split(summary_csv: Path, filelist: Path) -> None:
    """EF error against each video's ED and ES volume error (log predicted / traced, centred over videos)."""
    with open(filelist, newline="") as f:
        traced = {Path(r["FileName"]).stem: r for r in csv.DictReader(f)}
    rows = []
    with open(summary_csv, newline="") as f:
        for r in csv.DictReader(f):
            t = traced.get(r["name"])
            if t and r["ef_mean"] and r["edv_mean"] and r["esv_mean"] and t.get("EDV") and t.get("ESV"):
                rows.append((float(r["ef_mean"]) - float(t["EF"]), np.log(float(r["edv_mean"]) / float(t["EDV"])),
                             np.log(float(r["esv_mean"]) / float(t["ESV"]))))
    if len(rows) < 3:
        return
    error, ed, es = np.array(rows).T
    ed, es = ed - ed.mean(), es - es.mean()
    print(f"\n{len(rows)} videos with FileList EDV/ESV: EF error against log(predicted / traced) volume, centred: "
          f"r with ED {np.corrcoef(error, ed)[0, 1]:+.2f}, with ES {np.corrcoef(error, es)[0, 1]:+.2f}")
    print("\n| videos | n | ED log-ratio (mean) | ES log-ratio (mean) |\n|---|---|---|---|")
    for label, chosen in (("EF over by > 10", error > 10), ("EF within 10", np.abs(error) <= 10),
                          ("EF under by > 10", error < -10)):
        print(f"| {label} | {chosen.sum()} | {ed[chosen].mean():+.2f} | {es[chosen].mean():+.2f} |")


if __name__ == "__main__":
    main()
