"""Why does the mean teacher hurt the student? Short runs of controlled arms, scored on held-out windows.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diagnose_mean_teacher.py DATA --out OUT \
        --arms sup,mt,mt_lam0,mt_separate,mt_lam0_noperturb --reference sup --seeds 0,1 --steps 200 \
        --set augment.appearance.enabled=false --set augment.zoom=0 --set augment.shift=0

DATA is an EchoNet-layout folder with TRAIN / VAL / TEST splits (e.g. `echoseg synth DATA --videos 96
--difficulty hard --splits 0.5 0.08 0.42 --seed 11`). Every arm trains the CPU preset (`--variant`,
U-Net decoder, `--label-fraction` of the training videos traced, the rest unlabelled) for `--steps`
steps with the same seed-dependent data order and initial weights; arms differ only in what their
name says (ARMS below). After training, the student and the teacher of `checkpoints/last` and the
selected `best` checkpoint are scored (eval mode, threshold 0.5, per-window Dice at the 64x64 input
size) on the ED and ES windows of the TEST videos, which no run sees. The last student is also scored
with BatchNorm on the statistics of batches of 4 test windows plus 4 unlabelled training windows
(perturbed as the student's view, unperturbed, or none): a student whose Dice depends on what shares
its batch learned to rely on its batch partners. OUT/<arm>/seed<s>/ holds each run (finished runs
are reused, stopped ones continued); OUT/diagnosis_seeds*.json hold every score and per-window Dice,
and the script prints tables (of every seed found in OUT) and paired bootstrap CIs (per test video,
seeds pooled) of each arm against `--reference`.

Results and the reading of them: benchmarks/ablation_results.md, "Why the mean teacher hurts".
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from echoseg.data.readers import open_dataset
from echoseg.evaluation.bootstrap import bootstrap_ci, paired_differences, verdict
from echoseg.models.checkpoint import load_model
from echoseg.training.api import dataset_fingerprint, train
from echoseg.training.cache import FrameCache, build_frame_cache
from echoseg.training.config import PerturbConfig, resolve_config
from echoseg.training.dataset import labeled_windows, unlabeled_windows, validation_batches
from echoseg.training.trainer import frozen_running_statistics
from echoseg.training.transforms import Perturb

# arm -> config overrides. The mean-teacher arms name their student BatchNorm: "mt" is echoseg's mean
# teacher before 2026-11-29 (joint: one student pass over labelled + unlabelled windows).
JOINT = "mean_teacher.student_batchnorm=joint"
ARMS: dict[str, list[str]] = {
    "sup": ["mean_teacher.enabled=false"],
    "mt": [JOINT],
    "mt_lam0": [JOINT, "mean_teacher.consistency_weight=0"],  # the MT machinery without its loss: BN mixing only
    "mt_noperturb": [JOINT, "mean_teacher.perturb.enabled=false"],
    "mt_lam0_noperturb": [JOINT, "mean_teacher.consistency_weight=0", "mean_teacher.perturb.enabled=false"],
    "mt_ramp2x": [JOINT],  # ramp_steps = 2 x steps (set below): lambda reaches 0.25 at the end
    "mt_ema0.9": [JOINT, "mean_teacher.ema_decay=0.9"],
    "mt_perturb_all": [JOINT, "mean_teacher.perturb.labeled=true"],  # labelled windows perturbed too
    "mt_separate": ["mean_teacher.student_batchnorm=separate"],  # labelled / unlabelled in their own BN batches
    "mt_separate_perturb_all": ["mean_teacher.student_batchnorm=separate", "mean_teacher.perturb.labeled=true"],
    "sup_perturb_all": ["mean_teacher.enabled=false", "mean_teacher.perturb.labeled=true"],
}


def window_dice(model: nn.Module, cache, windows: np.ndarray, k: int) -> np.ndarray:
    """Per-window Dice (threshold 0.5; empty on empty = 1) of `model` in eval mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for x, y in validation_batches(cache, windows, k, 16):
            pred = (model(x.float() / 255) > 0).float().flatten(1)
            y = y.float().flatten(1)
            inter = (pred * y).sum(1)
            denom = pred.sum(1) + y.sum(1)
            out.append(torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.ones_like(denom)))
    return torch.cat(out).numpy()


def batch_composition_dice(model: nn.Module, test_cache, test_windows: np.ndarray, train_cache,
                           per_batch: int = 4) -> dict[str, float]:
    """Mean test-window Dice of `model` with BatchNorm in eval mode (its running statistics) and in
    train mode (the batch's statistics, running statistics untouched), where each batch holds
    `per_batch` test windows plus as many unlabelled training windows, perturbed as the student's
    view is ("train_bn_perturbed"), unperturbed ("train_bn_clean"), or none ("train_bn_alone").
    A student whose test Dice depends on what shares its batch learned to rely on its partners."""
    k = int(model.window)
    unlabeled = unlabeled_windows(train_cache, train_cache.indices("train"))
    rng = np.random.default_rng(0)
    partners = unlabeled[rng.permutation(len(unlabeled))[:len(test_windows)]]
    clean = np.stack([train_cache.window(v, f, k) for v, f in partners]).astype(np.float32) / 255
    perturb = Perturb(PerturbConfig())
    noisy = np.stack([perturb(x, rng) for x in clean])
    x_test = np.stack([test_cache.window(v, f, k) for v, f in test_windows]).astype(np.float32) / 255
    y_test = torch.from_numpy(np.stack([test_cache.mask(v, f)[None] for v, f in test_windows])).float()

    def score(train_mode: bool, extra: np.ndarray | None) -> float:
        model.train(train_mode)
        dice = []
        with torch.no_grad(), frozen_running_statistics(model):
            for start in range(0, len(test_windows), per_batch):
                x = x_test[start:start + per_batch]
                n = len(x)
                if extra is not None:
                    x = np.concatenate([x, extra[start:start + per_batch]])
                pred = (model(torch.from_numpy(x))[:n] > 0).float().flatten(1)
                y = y_test[start:start + n].flatten(1)
                denom = pred.sum(1) + y.sum(1)
                dice.append(torch.where(denom > 0, 2 * (pred * y).sum(1) / denom.clamp_min(1), torch.ones_like(denom)))
        model.eval()
        return round(float(torch.cat(dice).mean()), 4)

    return {"eval": score(False, None), "train_bn_perturbed": score(True, noisy),
            "train_bn_clean": score(True, clean), "train_bn_alone": score(True, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--out", required=True)
    parser.add_argument("--arms", default="sup,mt,mt_lam0,mt_noperturb", help=f"comma list of {list(ARMS)}")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--val-every", type=int, default=25)
    parser.add_argument("--variant", default="baseline")
    parser.add_argument("--label-fraction", type=float, default=0.125)
    parser.add_argument("--reference", default="mt", help="arm the CIs are against (default: mt)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every arm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = args.arms.split(",")

    source = open_dataset(args.data, "echonet")
    test_ids = [r.case_id for r in source.records() if r.split == "test"]
    test_cache = build_frame_cache(source, [(c, "test") for c in test_ids], (64, 64), out / "test_cache",
                                   dataset_fingerprint(args.data, "echonet"))
    test_windows = labeled_windows(test_cache, test_cache.indices("test"), False)

    # One results file per invocation's seeds, so invocations for different seeds can run side by side.
    results_path = out / f"diagnosis_seeds{'_'.join(map(str, seeds))}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for seed in seeds:
        for arm in arms:
            key = f"{arm}/seed{seed}"
            if key in results:
                continue
            overrides = [f"model.name={args.variant}", "model.settings.decoder=unet",
                         f"data.label_fraction={args.label_fraction}", f"runtime.seed={seed}",
                         f"optim.steps={args.steps}", f"runtime.val_interval={args.val_every}",
                         f"data.cache_dir={out / 'cache'}", *ARMS[arm], *args.set]
            if arm == "mt_ramp2x":
                overrides.append(f"mean_teacher.ramp_steps={2 * args.steps}")
            config = resolve_config("cpu", overrides)
            run_dir = out / arm / f"seed{seed}"
            start = time.perf_counter()
            # A run stopped part-way (its last checkpoint exists) is continued, not restarted.
            result = train(config, args.data, "echonet", run_dir, resume=(run_dir / "checkpoints" / "last").is_dir())
            seconds = time.perf_counter() - start
            scores = {"seconds": round(seconds, 1), "best_which": result.best_which, "best_step": result.best_step,
                      "best_val": result.best_dice}
            last = run_dir / "checkpoints" / "last"
            for name in ("student", "teacher"):
                path = last / f"{name}.safetensors"
                if path.is_file():
                    model, _ = load_model(path)
                    scores[f"test_{name}"] = window_dice(model, test_cache, test_windows, int(model.window)).tolist()
            model, _ = load_model(result.best_checkpoint)
            scores["test_best"] = window_dice(model, test_cache, test_windows, int(model.window)).tolist()
            with open(run_dir / "metrics.csv") as f:
                rows = [r for r in csv.DictReader(f) if r.get("val_dice_student")]
            scores["val_curve"] = [(int(r["step"]), float(r["val_dice_student"]),
                                    float(r["val_dice_teacher"]) if r.get("val_dice_teacher") else None) for r in rows]
            results[key] = scores
            results_path.write_text(json.dumps(results))
            print(f"{key}: {seconds:.0f} s, test Dice last student {np.mean(scores['test_student']):.3f}"
                  + (f" teacher {np.mean(scores['test_teacher']):.3f}" if "test_teacher" in scores else "")
                  + f" best({scores['best_which']}@{scores['best_step']}) {np.mean(scores['test_best']):.3f}",
                  flush=True)
            print("  val (step, student, teacher):", scores["val_curve"], flush=True)
    train_cache = None
    for seed in seeds:
        for arm in arms:
            scores = results[f"{arm}/seed{seed}"]
            if "composition" not in scores:
                if train_cache is None:
                    train_cache = FrameCache(next((out / "cache").glob("frames-*")))
                model, _ = load_model(out / arm / f"seed{seed}" / "checkpoints" / "last" / "student.safetensors")
                scores["composition"] = batch_composition_dice(model, test_cache, test_windows, train_cache)
                results_path.write_text(json.dumps(results))
    merged: dict = {}
    for path in sorted(out.glob("diagnosis_seeds*.json")):
        merged.update(json.loads(path.read_text()))
    all_seeds = sorted({int(key.split("/seed")[1]) for key in merged})
    report(merged, arms, all_seeds, args.reference, test_windows[:, 0])


def report(results: dict, arms: list[str], seeds: list[int], reference: str, videos: np.ndarray) -> None:
    print("\n| arm | seeds | test Dice last student | last teacher | best (which) | student val curve (seed 0) |")
    print("|---|:---:|:---:|:---:|:---:|---|")
    for arm in arms:
        runs = [results[f"{arm}/seed{s}"] for s in seeds if f"{arm}/seed{s}" in results]
        if not runs:
            continue

        def cell(field: str, runs: list[dict] = runs) -> str:
            vals = [np.mean(r[field]) for r in runs if field in r]
            return " / ".join(f"{v:.3f}" for v in vals) if vals else "-"

        which = ", ".join(f"{r['best_which']}@{r['best_step']}" for r in runs)
        curve = " ".join(f"{s}:{v:.2f}" for s, v, _ in runs[0]["val_curve"])
        print(f"| {arm} | {len(runs)} | {cell('test_student')} | {cell('test_teacher')} | {cell('test_best')} ({which}) "
              f"| {curve} |")
    print("\nLast student's test Dice by what shares its BatchNorm batch (4 test windows + 4 unlabelled training "
          "windows; seeds separated by /):")
    print("| arm | eval mode (running statistics) | train-mode BN + perturbed unlabelled | + clean unlabelled | alone |")
    print("|---|:---:|:---:|:---:|:---:|")
    for arm in arms:
        runs = [results[f"{arm}/seed{s}"] for s in seeds if "composition" in results.get(f"{arm}/seed{s}", {})]
        if runs:
            print(f"| {arm} | " + " | ".join(" / ".join(f"{r['composition'][c]:.3f}" for r in runs)
                                            for c in ("eval", "train_bn_perturbed", "train_bn_clean", "train_bn_alone"))
                  + " |")
    print(f"\nPaired bootstrap 95% CIs against {reference} (per test video: mean over its ED/ES windows and the "
          "seeds both ran, videos resampled):")
    for arm in arms:
        if arm == reference:
            continue
        for field in ("test_student", "test_best"):
            a = {s: per_video(results[f"{arm}/seed{s}"], field, videos) for s in seeds
                 if field in results.get(f"{arm}/seed{s}", {})}
            b = {s: per_video(results[f"{reference}/seed{s}"], field, videos) for s in seeds
                 if field in results.get(f"{reference}/seed{s}", {})}
            diffs = paired_differences(a, b)
            if diffs:
                ci = bootstrap_ci(diffs)
                print(f"  {arm} - {reference} ({field}, {ci['n']} videos, seeds {sorted(set(a) & set(b))}): "
                      f"{ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}] {verdict(ci)}")


def per_video(run: dict, field: str, videos: np.ndarray) -> dict[str, float]:
    """{video: mean Dice of its windows} from a run's per-window list."""
    values = np.asarray(run[field])
    return {str(v): float(values[videos == v].mean()) for v in np.unique(videos)}

if __name__ == "__main__":
    main()
