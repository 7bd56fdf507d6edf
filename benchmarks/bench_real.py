"""Real-video benchmark: what a model does on real EchoNet-Dynamic video that has no tracings (issue 22).

    python -m benchmarks.bench_real REAL_DIR --out OUT [--checkpoint W] [--name NAME]
        [--reuse] [--against OTHER/real_bench.json] [-- PREDICT_ARGS...]

REAL_DIR is an EchoNet-Dynamic-layout folder (FileList.csv + Videos/), for example the 203 real videos
that `../shared/realdata/extract_echonet_sample.py` writes. Never commit those videos, their masks or
the sheets drawn from them (research-use licence): keep OUT outside the repository or git-ignored.

It runs `echoseg predict` on every video exactly as a user would (the built-in model unless
--checkpoint is given; PREDICT_ARGS after `--` are passed on), then measures, without tracings:
- EF agreement with FileList EF: bias (predicted - FileList), MAE, SD of the difference, Pearson r;
  videos with no reported EF count as failed, EFs outside 20-85 as implausible (with FileList's own
  share beside it);
- beats found per video;
- the area curve's quality and the label-free plausibility score `echoseg adapt` checks with
  (`echoseg.evaluation.plausibility`): periodicity (autocorrelation peak at a heart rate of 40-150 bpm;
  1 is a perfectly periodic curve, noise scores near 0), jitter (frame-to-frame noise as a share of the
  curve's swing), consecutive-frame Dice, and their score in [0, 1];
- mask plausibility: the share of non-empty masks with more than one connected component, the share
  of empty masks, and the share whose centroid lies outside the region where the LV lies in
  EchoNet-Dynamic's framing (x 0.30-0.85, y 0.10-0.80 of the frame; tracings span x 45-80, y 20-80
  of 112).
It writes OUT/real_bench.json (every figure and each video's row), OUT/sheet.png (overlays at the
predicted ED and ES of the first beat for 24 fixed videos, FileList and predicted EF on each, the area
curve below) and prints a Markdown row for benchmarks/RESULTS.md. With --against, it also gives this
model minus another (its real_bench.json) on the videos both cover: per-video |EF error| and
plausibility differences with bootstrap CIs. --reuse analyses OUT/predict again, e.g. with REAL_DIR
holding only part of the videos (a held-out half).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from echoseg.evaluation.bootstrap import bootstrap_ci, verdict
from echoseg.evaluation.plausibility import video_plausibility

EF_RANGE = (20.0, 85.0)
LV_REGION = {"x": (0.30, 0.85), "y": (0.10, 0.80)}
SHEET_VIDEOS = 24


def run_predict(real_dir: Path, pred_dir: Path, checkpoint: str | None, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "echoseg", "predict", str(real_dir / "Videos"), "--out", str(pred_dir),
           "--no-overlay", "--no-progress"]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    start = time.perf_counter()
    subprocess.run(cmd + extra, check=False)
    return time.perf_counter() - start


def file_list(real_dir: Path) -> dict[str, float]:
    with open(real_dir / "FileList.csv", newline="") as f:
        return {row["FileName"].removesuffix(".avi"): float(row["EF"]) for row in csv.DictReader(f)}


def mask_stats(masks: np.ndarray) -> dict[str, float]:
    t, h, w = masks.shape
    empty = multi = outside = 0
    for m in masks:
        if not m.any():
            empty += 1
            continue
        _, count = ndimage.label(m)
        multi += count > 1
        ys, xs = np.nonzero(m)
        cx, cy = xs.mean() / w, ys.mean() / h
        inside = LV_REGION["x"][0] <= cx <= LV_REGION["x"][1] and LV_REGION["y"][0] <= cy <= LV_REGION["y"][1]
        outside += not inside
    nonempty = max(t - empty, 1)
    return {"empty": empty / t, "multi_component": multi / nonempty, "outside_lv_region": outside / nonempty}


def per_video(pred_dir: Path, name: str, reference_ef: float) -> dict:
    row: dict = {"name": name, "ef_filelist": reference_ef}
    folder = pred_dir / name
    result = folder / "result.json"
    if not result.is_file():
        row["status"] = "failed"
        return row
    masks_file = np.load(folder / "masks.npz")
    masks, fps = masks_file["masks"], float(masks_file["fps"])
    with open(folder / "frames.csv", newline="") as f:
        area = np.array([float(r["area"]) for r in csv.DictReader(f)])
    with open(folder / "beats.csv", newline="") as f:
        beats = list(csv.DictReader(f))
    info = json.loads(result.read_text())
    ef = info.get("ef_mean") or None  # "" when no beat counts
    row.update(status="done", fps=fps, frames=len(area), beats=len(beats),
               ef_pred=float(ef) if ef is not None and ef == ef else float("nan"),
               first_beat=(int(beats[0]["ed_frame"]), int(beats[0]["es_frame"])) if beats else None,
               fan_crop=info.get("fan_crop"), ef_quality=info.get("ef_quality", ""))
    checks = video_plausibility(masks, fps)
    row.update(periodicity=checks.periodicity, jitter=checks.jitter, temporal_dice=checks.temporal_dice,
               plausibility=checks.score)
    row.update(mask_stats(masks))
    return row


def agreement(rows: list[dict]) -> dict[str, float]:
    pairs = np.array([(r["ef_pred"], r["ef_filelist"]) for r in rows
                      if r["status"] == "done" and math.isfinite(r["ef_pred"])])
    n_total = len(rows)
    out: dict[str, float] = {"videos": n_total,
                             "failed": sum(r["status"] != "done" for r in rows),
                             "no_ef": sum(r["status"] == "done" and not math.isfinite(r["ef_pred"]) for r in rows)}
    if len(pairs):
        diff = pairs[:, 0] - pairs[:, 1]
        out.update(n_ef=len(pairs), bias=float(diff.mean()), mae=float(np.abs(diff).mean()),
                   sd=float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
                   r=float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]) if len(pairs) > 2 else float("nan"),
                   ef_min=float(pairs[:, 0].min()), ef_max=float(pairs[:, 0].max()),
                   implausible=float(np.mean((pairs[:, 0] < EF_RANGE[0]) | (pairs[:, 0] > EF_RANGE[1]))),
                   implausible_filelist=float(np.mean((pairs[:, 1] < EF_RANGE[0]) | (pairs[:, 1] > EF_RANGE[1]))),
                   mae_predict_mean=float(np.abs(pairs[:, 1] - pairs[:, 1].mean()).mean()))
    done = [r for r in rows if r["status"] == "done"]
    for key in ("beats", "periodicity", "jitter", "temporal_dice", "plausibility", "empty", "multi_component",
                "outside_lv_region"):
        values = np.array([r[key] for r in done], dtype=float)
        out[key] = float(np.nanmean(values)) if len(values) else float("nan")
    out["no_beat"] = float(np.mean([r["beats"] == 0 for r in done])) if done else float("nan")
    return out


def draw_sheet(real_dir: Path, pred_dir: Path, rows: list[dict], path: Path, scale: int = 2) -> None:
    """Overlays at the first beat's ED and ES for SHEET_VIDEOS fixed videos, with the area curve below."""
    chosen = sorted(rows, key=lambda r: r["name"])
    # Fixed choice: the lowest-EF videos (where failures show) plus an even spread of the rest.
    low = sorted(chosen, key=lambda r: r["ef_filelist"])[:4]
    rest = [r for r in chosen if r not in low]
    step = max(1, len(rest) // (SHEET_VIDEOS - len(low)))
    chosen = low + rest[::step][: SHEET_VIDEOS - len(low)]
    tiles = []
    size = 112 * scale
    for row in chosen:
        tiles.append(_video_tile(real_dir, pred_dir, row, size))
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    cv2.imwrite(str(path), grid)


def _video_tile(real_dir: Path, pred_dir: Path, row: dict, size: int) -> np.ndarray:
    curve_h = size // 2
    tile = np.zeros((size + curve_h + 4, 2 * size + 4, 3), np.uint8)
    video = _read_gray(real_dir / "Videos" / f"{row['name']}.avi")
    masks = None
    if row["status"] == "done":
        masks = np.load(pred_dir / row["name"] / "masks.npz")["masks"]
    frames = row.get("first_beat") or (0, min(len(video) - 1, 15))
    for j, (label, index) in enumerate(zip(("ED", "ES"), frames, strict=True)):
        img = cv2.cvtColor(cv2.resize(video[index], (size, size), interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2BGR)
        if masks is not None:
            m = cv2.resize(masks[index].astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(img, contours, -1, (0, 255, 0), 1)
        text = f"{label} {index}" if j else f"{row['name'][:10]} FL {row['ef_filelist']:.0f}"
        cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        if j == 1:
            ef = row.get("ef_pred", float("nan"))
            cv2.putText(img, "EF " + (f"{ef:.0f}" if math.isfinite(ef) else "none"), (3, 26),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 255, 255), 1, cv2.LINE_AA)
        tile[:size, j * (size + 4): j * (size + 4) + size] = img
    if masks is not None:
        area = masks.reshape(len(masks), -1).sum(1).astype(float)
        _draw_curve(tile[size + 4:, :], area, frames)
    return np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=40)


def _draw_curve(canvas: np.ndarray, area: np.ndarray, marks: tuple[int, int]) -> None:
    h, w = canvas.shape[:2]
    if len(area) < 2 or area.max() <= 0:
        return
    xs = np.linspace(2, w - 3, len(area))
    ys = h - 3 - (area / area.max()) * (h - 6)
    points = np.stack([xs, ys], 1).astype(np.int32)
    cv2.polylines(canvas, [points], False, (200, 200, 200), 1, cv2.LINE_AA)
    for frame, colour in zip(marks, ((0, 0, 255), (255, 128, 0)), strict=True):
        cv2.circle(canvas, (int(xs[frame]), int(ys[frame])), 3, colour, -1)


def _read_gray(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cap.release()
    return np.stack(frames)


def per_video_differences(rows: list[dict], other_rows: list[dict]) -> dict[str, dict[str, float]]:
    """This model minus another, video by video: {"abs_ef_error": {video: |EF error| difference} over the
    videos with an EF from both, "plausibility": {video: difference} over the videos both finished}."""
    other = {r["name"]: r for r in other_rows}
    ef_error, plausibility = {}, {}
    for r in rows:
        o = other.get(r["name"])
        if o is None or r["status"] != "done" or o["status"] != "done":
            continue
        plausibility[r["name"]] = r["plausibility"] - o["plausibility"]
        if math.isfinite(r["ef_pred"]) and math.isfinite(float(o["ef_pred"])):
            ef_error[r["name"]] = (abs(r["ef_pred"] - r["ef_filelist"]) - abs(float(o["ef_pred"]) - o["ef_filelist"]))
    return {"abs_ef_error": ef_error, "plausibility": plausibility}


HIGHER_IS_BETTER = {"abs_ef_error": False, "plausibility": True}


def paired_against(rows: list[dict], other_rows: list[dict]) -> dict[str, dict]:
    """This model minus another on the same videos: |EF error| (lower is better) and plausibility, mean of
    per-video differences with a 95% bootstrap CI over videos (videos with an EF from both models).
    One training run each: the CI carries test-video variance only, not training-seed variance
    (benchmarks.real_arms compares several training seeds per model)."""
    out = {}
    for key, diffs in per_video_differences(rows, other_rows).items():
        ci = bootstrap_ci(diffs)
        out[key] = {**ci, "verdict": verdict(ci, higher_is_better=HIGHER_IS_BETTER[key])}
    return out


def markdown_row(name: str, s: dict) -> str:
    def f(key, fmt="{:.1f}"):
        v = s.get(key, float("nan"))
        return fmt.format(v) if isinstance(v, (int, float)) and math.isfinite(v) else "-"
    return (f"| {name} | {f('mae')} | {f('bias', '{:+.1f}')} | {f('sd')} | {f('r', '{:.2f}')} | "
            f"{s['failed']}+{s['no_ef']} | {f('implausible', '{:.0%}')} | {f('ef_min', '{:.0f}')}..{f('ef_max', '{:.0f}')} | "
            f"{f('beats')} | {f('periodicity', '{:.2f}')} | {f('jitter', '{:.3f}')} | {f('temporal_dice', '{:.3f}')} | "
            f"{f('plausibility', '{:.3f}')} | {f('multi_component', '{:.1%}')} | "
            f"{f('outside_lv_region', '{:.1%}')} | {f('empty', '{:.1%}')} |")


HEADER = ("| model | EF MAE | bias | SD | r | failed+no EF | EF outside 20-85 | EF range | beats/video | "
          "periodicity | jitter | frame-to-frame Dice | plausibility | >1 component | outside LV region | empty |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("real_dir", type=Path, help="EchoNet-layout folder with FileList.csv and Videos/")
    parser.add_argument("--out", type=Path, required=True, help="output folder (keep it outside the repository)")
    parser.add_argument("--checkpoint", help="weights file or run folder (default: the built-in model)")
    parser.add_argument("--name", default=None, help="the model's name in the Markdown row")
    parser.add_argument("--reuse", action="store_true", help="analyse an existing OUT/predict without rerunning it")
    parser.add_argument("--against", type=Path, default=None,
                        help="another run's real_bench.json: paired |EF error| and plausibility differences, this "
                             "model minus that one, with bootstrap CIs over the videos both cover")
    parser.epilog = "Arguments after -- go to echoseg predict unchanged (e.g. -- --threads 1)."
    # Split at "--" here: argparse would give a trailing nargs="*" positional nothing once real_dir is read.
    argv = sys.argv[1:]
    predict_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    pred_dir = args.out / "predict"
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = None
    if not args.reuse:
        seconds = run_predict(args.real_dir, pred_dir, args.checkpoint, predict_args)
    reference = file_list(args.real_dir)
    rows = [per_video(pred_dir, name, ef) for name, ef in sorted(reference.items())]
    summary = agreement(rows)
    summary["predict_seconds"] = seconds
    if args.against:
        summary["against"] = {"file": str(args.against),
                              **paired_against(rows, json.loads(args.against.read_text())["videos"])}
    draw_sheet(args.real_dir, pred_dir, rows, args.out / "sheet.png")
    tmp = args.out / "real_bench.json.tmp"
    tmp.write_text(json.dumps({"summary": summary, "checkpoint": args.checkpoint, "videos": rows}, indent=1,
                              default=str))
    tmp.replace(args.out / "real_bench.json")
    print(HEADER)
    print(markdown_row(args.name or args.checkpoint or "built-in", summary))
    for key, ci in summary.get("against", {}).items():
        if key != "file":
            print(f"{key}, this - {args.against}: {ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}] "
                  f"over {ci['n']} videos: {ci['verdict']}")
    print(f"wrote {args.out / 'real_bench.json'} and {args.out / 'sheet.png'}")


if __name__ == "__main__":
    main()
