"""The paper's protocols: patient-level k-fold cross-validation and the variant ablation.

One *run* = train on a fold's train/val cases, evaluate the fold's test cases, write the report.
Its folder holds:
    split.json        the fold's case ids {"index", "source", "train", "val", "test"} (the trainer
                      reads it through `data.split_file`)
    train/            the training run folder (config.yaml = the resolved config, checkpoints, ...)
    metrics.json, per_case.csv, per_frame.csv, plots/, report.html   (`write_report`)
    run.json          written last: the run's table metrics; its presence means "finished"
A rerun skips finished runs and resumes an interrupted training (`train(resume=True)`), so a
protocol killed at any point continues where it stopped. A run that fails is logged and recorded
(run_error.txt) and the others go on; rerunning retries it.

Cross-validation (`run_cv`): OUT/fold{i}/ per fold, then OUT/cv_summary.json and cv_summary.md
(per-fold rows and mean ± sample std across folds). The ablation (`run_ablation`): every row
(variant, or variant at window k) x seed x fold under OUT/runs/<row>/seed<s>/fold<i>/, all on the
same folds with the same config apart from the variant, then OUT/ablation_summary.json and
ablation_table.md: mean ± std over seeds (each seed's value is the mean over its folds).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.config import to_dict
from echoseg.data.readers.base import Reader
from echoseg.data.schema import CaseRecord
from echoseg.errors import EchosegError
from echoseg.evaluation.folds import (
    Fold,
    aggregate_folds,
    format_table,
    headline_metrics,
    make_folds,
    read_camus_split_lists,
)
from echoseg.io import atomic_write_text

log = logging.getLogger(__name__)

VARIANTS = ("unet", "baseline", "baseline_tce", "baseline_bssf", "sscf")
# (metric key, column title) of the paper's Table 2, plus EF agreement; Table 5 adds ms/frame.
TABLE2_COLUMNS = (("dice", "DC"), ("hd", "HD"), ("auc", "AUC"), ("ef_corr", "EF corr"), ("ef_mae", "EF MAE"))
TIMING_COLUMN = ("ms_per_frame", "ms/frame")
DIGITS = {"dice": 3, "hd": 2, "auc": 3, "ef_corr": 3, "ef_mae": 2, "ms_per_frame": 1, "dice_pooled": 3,
          "hd95": 2}
DEFINITIONS = {
    "dice": "Dice of ED and ES frames, per-image mean (paper's DC)",
    "hd": "Hausdorff distance (max) of ED and ES frames, per-image mean, in the dataset's distance unit",
    "hd95": "95th-percentile Hausdorff distance of ED and ES frames, per-image mean",
    "auc": "pixel ROC AUC of ED and ES frames, per-image mean",
    "dice_pooled": "Dice pooled over all ED and ES pixels (EchoNet's form)",
    "ef_corr": "Pearson r of monoplane EF from predicted masks vs the dataset's reference EF",
    "ef_mae": "mean absolute difference (EF points) of monoplane EF from predicted masks vs reference EF",
    "ef_corr_vs_true_masks": "Pearson r of EF from predicted masks vs EF from ground-truth masks",
    "ef_mae_vs_true_masks": "MAE of EF from predicted masks vs EF from ground-truth masks",
    "ms_per_frame": "CPU whole-video inference ms/frame of the trained model (models.benchmark)",
}
FINISHED = "run.json"


@dataclass
class Timing:
    """How Table 5's ms/frame is measured: `echoseg.models.benchmark.video_ms_per_frame` on the
    trained model with BatchNorm folded (what `echoseg bench model` times)."""

    mode: str = "channels_last"  # fp32 | channels_last | bf16 (models.benchmark.MODES)
    frames: int = 16
    batch_size: int = 4
    reps: int = 2


@dataclass
class RunOutcome:
    """One train + evaluate run. metrics: `table_metrics` (+ ms_per_frame when timed); None if it failed."""

    name: str
    folder: Path
    metrics: dict[str, float] | None
    skipped: bool = False  # finished by an earlier invocation
    error: str | None = None
    seconds: float = 0.0
    unit: str | None = None  # distance unit of HD: "mm" with pixel spacing, else "px"


@dataclass
class ProtocolResult:
    runs: list[RunOutcome]
    summary: dict[str, Any]
    table: str
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[RunOutcome]:
        return [r for r in self.runs if r.error is not None]


# ----------------------------------------------------------------------------------- folds


def plan_folds(reader: Reader, data_format: str, k: int = 5, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    """Patient-level k-fold over the dataset's usable cases; CAMUS official split lists, when present
    beside the data, give their one official fold instead."""
    official = read_camus_split_lists(reader.root) if data_format == "camus" else None
    if official is not None:
        log.info("CAMUS official split lists found: one official fold instead of %d-fold", k)
    try:
        return make_folds(reader.records(), k=k, seed=seed, val_fraction=val_fraction, official=official)
    except ValueError as exc:
        raise EchosegError(f"{reader.root}: {exc}") from None


def dataset_fold(records: Sequence[CaseRecord], val_fraction: float = 0.1, seed: int = 0) -> Fold:
    """The dataset's own train/val/test split as one fold. Without val cases, `val_fraction` of the
    training patients (seeded) become val, whole patients at a time, as `make_folds` does."""
    train = [r for r in records if r.split in ("train", None)]
    val = [r.case_id for r in records if r.split == "val"]
    test = [r.case_id for r in records if r.split == "test"]
    if not test:
        raise EchosegError("the dataset has no test split; use k-fold cross-validation (--folds 5) instead")
    if not val and val_fraction > 0:
        patients = sorted({r.patient_id for r in train})
        chosen = set(np.random.default_rng(seed).permutation(patients)[:max(1, round(val_fraction * len(patients)))])
        val = sorted(r.case_id for r in train if r.patient_id in chosen)
        train = [r for r in train if r.patient_id not in chosen]
    return Fold(0, sorted(r.case_id for r in train), sorted(val), sorted(test), source="dataset")


# ----------------------------------------------------------------------------------- one run


def table_metrics(summary: Mapping) -> dict[str, float]:
    """The numbers of Table 2 (and a few more) from an evaluation summary / metrics.json."""
    out = headline_metrics(summary)
    mono = summary.get("ef", {}).get("monoplane", {})
    nan = float("nan")

    def get(key: str, stat: str) -> float:
        value = mono.get(key, {}).get(stat)
        return nan if value is None else float(value)

    out["ef_corr"] = get("pred_vs_reference", "pearson_r")
    out["ef_mae"] = get("pred_vs_reference", "mae")
    out["ef_corr_vs_true_masks"] = get("pred_vs_true_masks", "pearson_r")
    out["ef_mae_vs_true_masks"] = get("pred_vs_true_masks", "mae")
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _restore(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float("nan") if v is None else float(v) for k, v in metrics.items()}


def is_finished(folder: str | Path) -> bool:
    return (Path(folder) / FINISHED).is_file()


def _write_split(folder: Path, fold: Fold) -> Path:
    """split.json of a run; refuses to overwrite a different fold (a changed --seed or --folds would
    otherwise resume a half-trained model on other cases)."""
    path = folder / "split.json"
    planned = fold.as_dict()
    if path.is_file():
        existing = json.loads(path.read_text())
        if {k: existing.get(k) for k in ("train", "val", "test")} != {k: planned[k] for k in ("train", "val", "test")}:
            raise EchosegError(f"{path}: this folder was started with a different fold (another --seed, --folds or "
                               "dataset?); use another --out or delete the folder")
        return path
    atomic_write_text(path, json.dumps(planned, indent=1) + "\n")
    return path


def write_plan(out_dir: Path, plan: Sequence[Fold]) -> None:
    """OUT/folds.json; refuses a folder made with another plan (other --seed, --folds or data)."""
    path = out_dir / "folds.json"
    planned = [f.as_dict() for f in plan]
    if path.is_file() and json.loads(path.read_text()) != planned:
        raise EchosegError(f"{path}: this folder holds runs of other folds (another --seed, --folds or dataset?); "
                           "use another --out or delete the folder")
    atomic_write_text(path, json.dumps(planned, indent=1) + "\n")


def run_one(config, fold: Fold, data_root: str | Path, data_format: str, folder: str | Path, *,
            reader: Reader | None = None, timing: Timing | None = None, progress: bool = False,
            name: str | None = None) -> RunOutcome:
    """Train `config` on the fold's train/val cases, evaluate its test cases, write the report in `folder`.

    Skips a finished run (its run.json exists) and resumes an interrupted training. Errors propagate;
    `run_protocol` catches them per run.
    """
    from echoseg.data.readers import open_dataset
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.evaluation.report import write_report
    from echoseg.inference.loading import load_for_inference
    from echoseg.training.api import train

    folder = Path(folder)
    name = name or folder.name
    folder.mkdir(parents=True, exist_ok=True)
    split_file = _write_split(folder, fold)
    if is_finished(folder):
        stored = json.loads((folder / FINISHED).read_text())
        return RunOutcome(name, folder, _restore(stored["metrics"]), skipped=True, unit=stored.get("distance_unit"))
    started = time.perf_counter()
    config = copy.deepcopy(config)
    config.data.split_file = str(split_file.resolve())
    train_dir = folder / "train"
    resume = (train_dir / "config.yaml").is_file()
    log.info("%s: %s training (%d train, %d val cases; %s, seed %d)", name, "resuming" if resume else "starting",
             len(fold.train), len(fold.val), config.model.name, config.runtime.seed)
    result = train(config, data_root, data_format, train_dir, resume=resume, progress=progress)
    weights = result.best_checkpoint or train_dir / "checkpoints" / "last" / "model.safetensors"
    model, meta, input_size = load_for_inference(weights)
    reader = reader or open_dataset(data_root, data_format)
    log.info("%s: evaluating %d test cases with %s", name, len(fold.test), weights)
    evaluation = evaluate_model(model, reader, split=None, case_ids=fold.test, input_size=input_size,
                                all_frames=True, progress=progress)
    if not evaluation.cases:
        raise EchosegError(f"{name}: every test case failed to evaluate: {evaluation.errors[:3]}")
    metrics = table_metrics(evaluation.summary)
    if timing is not None:
        metrics["ms_per_frame"] = measure_ms_per_frame(model, input_size, timing)
    info = {"run": name, "fold": f"{fold.index} ({fold.source}): {len(fold.train)} train, {len(fold.val)} val, "
            f"{len(fold.test)} test cases", "data": f"{data_root} ({data_format})",
            "model": f"{meta['model']} {meta['model_cfg']}, input {input_size[0]}x{input_size[1]}",
            "training": f"{result.steps} steps, seed {config.runtime.seed}, mean teacher "
            f"{'on' if config.mean_teacher.enabled else 'off'}; weights {weights}"}
    curves = train_dir / "training_curves.png"
    extra = {"Training": [("training curves", curves)]} if curves.is_file() else None
    write_report(evaluation, folder, title=f"echoseg {name}", info=info, extra_sections=extra)
    seconds = time.perf_counter() - started
    record = {"name": name, "fold": fold.index, "fold_source": fold.source, "model": meta["model"],
              "model_cfg": meta["model_cfg"], "seed": config.runtime.seed,
              "mean_teacher": config.mean_teacher.enabled, "steps": result.steps, "weights": str(weights),
              "best_which": result.best_which, "best_val_dice": result.best_dice,
              "evaluated": len(evaluation.cases), "failed_cases": len(evaluation.errors),
              "seconds": seconds, "distance_unit": evaluation.summary.get("distance_unit"),
              "metrics": _clean(metrics)}
    atomic_write_text(folder / FINISHED, json.dumps(record, indent=1) + "\n")
    (folder / "run_error.txt").unlink(missing_ok=True)
    log.info("%s: done in %.0f s: Dice %.4f, HD %.2f, AUC %.4f, EF r %.3f", name, seconds, metrics["dice"],
             metrics["hd"], metrics["auc"], metrics["ef_corr"])
    return RunOutcome(name, folder, metrics, seconds=seconds, unit=evaluation.summary.get("distance_unit"))


def measure_ms_per_frame(model, input_size: Sequence[int], timing: Timing) -> float:
    """Whole-video CPU ms/frame of an inference-ready `model` (from load_for_inference), square inputs."""
    import torch

    from echoseg.models.benchmark import video_ms_per_frame

    h, w = input_size
    if h != w:
        raise EchosegError(f"ms/frame is measured on square inputs; the model expects {h}x{w}")
    model = copy.deepcopy(model).cpu().eval()  # already BatchNorm-folded by load_for_inference
    with torch.inference_mode():
        return video_ms_per_frame(model, timing.mode, h, timing.frames, timing.batch_size, timing.reps)


def run_protocol(jobs: Sequence[tuple[str, Callable[[], RunOutcome], Path]]) -> list[RunOutcome]:
    """Run (name, job, folder) jobs in order; one failing is logged and recorded, the rest go on."""
    outcomes = []
    for i, (name, job, folder) in enumerate(jobs, 1):
        log.info("[%d/%d] %s", i, len(jobs), name)
        started = time.perf_counter()
        try:
            outcome = job()
            if outcome.skipped:
                log.info("%s: finished earlier, skipped", name)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failed run must not lose the others
            message = f"{type(exc).__name__}: {exc}"
            log.error("%s failed: %s", name, message)
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / "run_error.txt", message + "\n\n" + traceback.format_exc())
            outcome = RunOutcome(name, folder, None, error=message, seconds=time.perf_counter() - started)
        outcomes.append(outcome)
    return outcomes


def _shown(aggregate: Mapping[str, Mapping]) -> dict[str, dict]:
    """A table copy of an aggregate where a single value shows no ± (its std of 0 says nothing)."""
    return {k: {**v, "std": v["std"] if v.get("n", 0) > 1 else float("nan")} for k, v in aggregate.items()}


def _units(outcomes: Sequence[RunOutcome]) -> str:
    units = sorted({o.unit for o in outcomes if o.unit})
    return f"HD in {' / '.join(units)}. " if units else ""


def _shared_cache(config, out_dir: Path):
    """Runs on the same cases at the same size share one frame cache (the cache key names the cases)."""
    config = copy.deepcopy(config)
    if not config.data.cache_dir:
        config.data.cache_dir = str((out_dir / "cache").resolve())
    return config


# ----------------------------------------------------------------------------------- cross-validation


def run_cv(config, data_root: str | Path, data_format: str, out_dir: str | Path, *, folds: int = 5, seed: int = 0,
           limit_folds: int | None = None, progress: bool = False, label: str | None = None) -> ProtocolResult:
    """k-fold cross-validation: train and evaluate every fold into OUT/fold{i}/, aggregate mean ± std.

    config: a TrainConfig (every fold trains with it; `data.split_file` is set per fold).
    seed: the seed of the patient shuffle that makes the folds (the training seed is
    `config.runtime.seed`). limit_folds: run only the first N folds (quick checks).
    label: the dataset's name in the table headers (default: the data folder's name).
    """
    from echoseg.data.readers import open_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = open_dataset(data_root, data_format)
    plan = plan_folds(reader, data_format, folds, seed, config.data.val_fraction)
    write_plan(out_dir, plan)
    selected = plan[:limit_folds] if limit_folds else plan
    log.info("cv: %d fold(s) of %d (%s) over %d cases -> %s", len(selected), len(plan), plan[0].source,
             len(reader.records()), out_dir)
    config = _shared_cache(config, out_dir)
    jobs = [(f"fold{f.index}", lambda f=f: run_one(config, f, data_root, data_format, out_dir / f"fold{f.index}",
                                                     reader=reader, progress=progress), out_dir / f"fold{f.index}")
            for f in selected]
    outcomes = run_protocol(jobs)
    done = [o for o in outcomes if o.metrics is not None]
    aggregate = aggregate_folds([o.metrics for o in done]) if done else {}
    label = label or Path(data_root).name or str(data_root)
    rows: dict[str, dict] = {o.name: {label: o.metrics} for o in done}
    rows["mean ± std"] = {label: _shown(aggregate)}
    columns = TABLE2_COLUMNS + (("hd95", "HD95"), ("dice_pooled", "DC pooled"))
    table = format_table(rows, columns, digits=DIGITS, row_title="Fold")
    summary = {
        "protocol": f"{len(plan)}-fold patient-level cross-validation" if plan[0].source == "kfold"
                    else "CAMUS official split (one fold)",
        "data": {"root": str(data_root), "format": data_format}, "fold_seed": seed,
        "folds_planned": len(plan), "folds_run": [o.name for o in outcomes],
        "config": to_dict(config), "definitions": DEFINITIONS,
        "folds": [{"name": o.name, "folder": str(o.folder), "metrics": _clean(o.metrics), "error": o.error}
                  for o in outcomes],
        "aggregate": _clean(aggregate),
    }
    files = {"json": out_dir / "cv_summary.json", "markdown": out_dir / "cv_summary.md"}
    atomic_write_text(files["json"], json.dumps(summary, indent=2) + "\n")
    failed = [o for o in outcomes if o.error]
    notes = f"\n\nFailed folds: {', '.join(f'{o.name} ({o.error})' for o in failed)}" if failed else ""
    atomic_write_text(files["markdown"], f"# Cross-validation: {summary['protocol']}\n\nData: {data_root} "
                      f"({data_format}); model {config.model.name}. {_units(outcomes)}Mean ± sample std across folds.\n\n"
                      f"{table}{notes}\n")
    return ProtocolResult(outcomes, summary, table, files)


# ----------------------------------------------------------------------------------- ablation


@dataclass(frozen=True)
class AblationRow:
    variant: str
    window: int | None  # None: the config's window (Table 2); an int: Table 5's k

    @property
    def name(self) -> str:
        return self.variant if self.window is None or self.variant == "unet" else f"{self.variant} k={self.window}"

    @property
    def slug(self) -> str:
        return self.name.replace(" k=", "_k")


def ablation_rows(variants: Sequence[str], windows: Sequence[int] | None = None) -> list[AblationRow]:
    """Table 2: one row per variant. Table 5 (`windows`): every variant at every k; `unet` (single
    frame) once."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise EchosegError(f"unknown variants {unknown}; valid: {list(VARIANTS)}")
    if not windows:
        return [AblationRow(v, None) for v in variants]
    rows = []
    for v in variants:
        rows += [AblationRow(v, 1)] if v == "unet" else [AblationRow(v, k) for k in windows]
    return rows


def variant_config(config, row: AblationRow, seed: int):
    """The base config with the row's variant and seed. `unet` trains supervised only with a single
    frame (the paper's Table 2 U-Net row); the others keep the config's mean-teacher settings."""
    config = copy.deepcopy(config)
    config.model.name = row.variant
    config.runtime.seed = seed
    if row.variant == "unet":
        config.model.window = 1
        config.mean_teacher.enabled = False
    elif row.window is not None:
        config.model.window = row.window
    return config


def run_ablation(config, data_root: str | Path, data_format: str, out_dir: str | Path, *,
                 variants: Sequence[str] = VARIANTS, seeds: Sequence[int] = (0, 1, 2),
                 windows: Sequence[int] | None = None, folds: int = 0, fold_seed: int = 0,
                 limit_folds: int | None = None, timing: Timing | None = None,
                 progress: bool = False, label: str | None = None) -> ProtocolResult:
    """Every variant (or variant at every k of `windows`) x seed x fold, same folds and budget.

    folds: 0 = the dataset's own train/val/test split (one fold); k >= 2 = patient-level k-fold.
    timing: measure ms/frame per run (Table 5); on by default when `windows` is given.
    label: the dataset's name in the table headers (default: the data folder's name).
    Returns the table as mean ± std over seeds of each row (a seed's value: mean over its folds).
    """
    from echoseg.data.readers import open_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = open_dataset(data_root, data_format)
    if folds:
        plan = plan_folds(reader, data_format, folds, fold_seed, config.data.val_fraction)
    else:
        plan = [dataset_fold(reader.records(), config.data.val_fraction, fold_seed)]
    write_plan(out_dir, plan)
    plan = plan[:limit_folds] if limit_folds else plan
    rows = ablation_rows(variants, windows)
    if windows and timing is None:
        timing = Timing()
    config = _shared_cache(config, out_dir)
    jobs, keys = [], []
    for row in rows:
        for seed in seeds:
            cfg = variant_config(config, row, seed)
            for fold in plan:
                folder = out_dir / "runs" / row.slug / f"seed{seed}" / f"fold{fold.index}"
                name = f"{row.name} seed {seed} fold {fold.index}"
                jobs.append((name, lambda c=cfg, f=fold, d=folder, n=name: run_one(
                    c, f, data_root, data_format, d, reader=reader, timing=timing, progress=progress, name=n), folder))
                keys.append((row, seed))
    log.info("ablation: %d rows x %d seeds x %d fold(s) = %d runs -> %s", len(rows), len(seeds), len(plan),
             len(jobs), out_dir)
    outcomes = run_protocol(jobs)

    label = label or Path(data_root).name or str(data_root)
    table_rows: dict[str, dict] = {}
    per_row: dict[str, dict] = {}
    for row in rows:
        per_seed = []
        for seed in seeds:
            got = [o.metrics for (r, s), o in zip(keys, outcomes, strict=True) if r == row and s == seed and o.metrics]
            if got:  # a seed's value: the mean over its folds
                per_seed.append({k: v["mean"] for k, v in aggregate_folds(got).items()})
        aggregate = aggregate_folds(per_seed) if per_seed else {}
        table_rows[row.name] = {label: _shown(aggregate)}
        per_row[row.name] = {"variant": row.variant, "window": 1 if row.variant == "unet" else row.window,
                             "mean_teacher": variant_config(config, row, 0).mean_teacher.enabled,
                             "seeds_done": len(per_seed), "aggregate": _clean(aggregate)}
    columns = TABLE2_COLUMNS + ((TIMING_COLUMN,) if timing is not None else ())
    table = format_table(table_rows, columns, digits=DIGITS)
    form = "Table 5 (k sweep)" if windows else "Table 2 (variants)"
    summary = {
        "form": form, "data": {"root": str(data_root), "format": data_format},
        "folds": [{"index": f.index, "source": f.source, "train": len(f.train), "val": len(f.val),
                   "test": len(f.test)} for f in plan],
        "seeds": list(seeds), "config": to_dict(config), "definitions": DEFINITIONS,
        "timing": None if timing is None else asdict(timing),
        "rows": per_row,
        "runs": [{"name": o.name, "folder": str(o.folder), "metrics": _clean(o.metrics), "error": o.error,
                  "seconds": o.seconds, "skipped": o.skipped} for o in outcomes],
    }
    files = {"json": out_dir / "ablation_summary.json", "markdown": out_dir / "ablation_table.md"}
    atomic_write_text(files["json"], json.dumps(summary, indent=2) + "\n")
    failed = [o for o in outcomes if o.error]
    notes = f"\n\nFailed runs: {', '.join(f'{o.name} ({o.error})' for o in failed)}" if failed else ""
    split = "the dataset's own split" if not folds else f"{len(plan)} of {folds} patient-level folds"
    atomic_write_text(files["markdown"], f"# Ablation, {form}\n\nData: {data_root} ({data_format}), {split}; "
                      f"seeds {list(seeds)}; same config and budget for every row (optim.steps "
                      f"{config.optim.steps or str(config.optim.epochs) + ' epochs'}). {_units(outcomes)}Mean ± std over seeds."
                      f"\n\n{table}{notes}\n")
    return ProtocolResult(outcomes, summary, table, files)
