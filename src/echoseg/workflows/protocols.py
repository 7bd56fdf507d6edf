"""What the paper's protocols share: one train + evaluate run on a fold, folds, run records, tables.

The protocols themselves: `echoseg.workflows.cv` (patient-level k-fold cross-validation) and
`echoseg.workflows.ablation` (the variant ablation, Table 2, and the k sweep, Table 5).

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
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echoseg.data.readers.base import Reader
from echoseg.data.splits import Fold, dataset_fold, plan_folds
from echoseg.errors import EchosegError
from echoseg.evaluation.folds import headline_metrics
from echoseg.evaluation.metrics import per_video_metrics
from echoseg.io import atomic_write_text

log = logging.getLogger(__name__)

# (metric key, column title) of the paper's Table 2, plus EF agreement; Table 5 adds ms/frame.
# HD leaves out frames where exactly one mask is empty: their count ("HD missed") and the HD with them
# at the image diagonal ("HD pen.") stand beside it, so a model that misses frames cannot look good.
TABLE2_COLUMNS = (("dice", "DC"), ("hd", "HD"), ("hd_missed", "HD missed"), ("hd_penalised", "HD pen."),
                  ("auc", "AUC"), ("ef_corr", "EF corr"), ("ef_mae", "EF MAE"))
TIMING_COLUMN = ("ms_per_frame", "ms/frame")
DIGITS = {"dice": 3, "hd": 2, "hd_missed": 1, "hd_penalised": 2, "auc": 3, "ef_corr": 3, "ef_mae": 2, "ms_per_frame": 1, "dice_pooled": 3,
          "hd95": 2}
DEFINITIONS = {
    "dice": "Dice of ED and ES frames, per-image mean (paper's DC)",
    "hd": "Hausdorff distance (max) of ED and ES frames, per-image mean, in the dataset's distance unit",
    "hd95": "95th-percentile Hausdorff distance of ED and ES frames, per-image mean",
    "hd_missed": "ED and ES frames where exactly one of prediction and truth is empty (left out of HD and HD95), "
    "per run",
    "hd_penalised": "HD with those frames counted at the image diagonal, per-image mean",
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
    pending: bool = False  # not run: only finished runs were asked for (--finished-only)
    error: str | None = None
    seconds: float = 0.0
    unit: str | None = None  # distance unit of HD: "mm" with pixel spacing, else "px"
    # {metric: {test video: value}}: `per_video_scores`, what the engine's CaseResults are made of
    per_video: dict[str, dict[str, float]] | None = None


def per_video_scores(evaluation) -> dict[str, dict[str, float]]:
    """What a run records per test video (run.json "per_video"): `per_video_metrics` and the video's
    monoplane EF from the predicted masks and the dataset's reference EF (`ef_pred`, `ef_reference`)."""
    out = per_video_metrics(evaluation.records)
    out["ef_pred"] = {case.case_id: case.ef_pred for case in evaluation.cases}
    out["ef_reference"] = {case.case_id: case.ef_reference for case in evaluation.cases}
    return out


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


def clean_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
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
            raise EchosegError(f"{path}: this folder was started with a different fold (another --fold-seed, --folds or "
                               "dataset?); use another --out or delete the folder")
        return path
    atomic_write_text(path, json.dumps(planned, indent=1) + "\n")
    return path


def plan_runs(data_root: str | Path, data_format: str, out_dir: Path, *, folds: int, fold_seed: int,
              val_fraction: float, limit_folds: int | None = None) -> tuple[Reader, list[Fold]]:
    """(the dataset's reader, the folds a protocol runs): folds = 0 the dataset's own split (one fold),
    k >= 2 patient-level k-fold. OUT is created and the whole plan recorded in OUT/folds.json
    (`write_plan`); the first `limit_folds` folds are returned."""
    from echoseg.data.readers import open_dataset

    out_dir.mkdir(parents=True, exist_ok=True)
    reader = open_dataset(data_root, data_format)
    if folds:
        plan = plan_folds(reader, data_format, folds, fold_seed, val_fraction)
    else:
        plan = [dataset_fold(reader.records(), val_fraction, fold_seed)]
    write_plan(out_dir, plan)
    return reader, plan[:limit_folds] if limit_folds else plan


def write_plan(out_dir: Path, plan: Sequence[Fold]) -> None:
    """OUT/folds.json; refuses a folder made with another plan (other --fold-seed, --folds or data)."""
    path = out_dir / "folds.json"
    planned = [f.as_dict() for f in plan]
    if path.is_file() and json.loads(path.read_text()) != planned:
        raise EchosegError(f"{path}: this folder holds runs of other folds (another --fold-seed, --folds or dataset?); "
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
    from echoseg.inference.segmenter import load_segmenter
    from echoseg.training.api import train
    from echoseg.training.run_folder import RunFolder

    folder = Path(folder)
    name = name or folder.name
    folder.mkdir(parents=True, exist_ok=True)
    split_file = _write_split(folder, fold)
    if is_finished(folder):
        stored = json.loads((folder / FINISHED).read_text())
        return RunOutcome(name, folder, _restore(stored["metrics"]), skipped=True, unit=stored.get("distance_unit"),
                          per_video=stored.get("per_video"))
    started = time.perf_counter()
    config = copy.deepcopy(config)
    config.data.split_file = str(split_file.resolve())
    train_dir = folder / "train"
    run = RunFolder(train_dir)
    resume = run.can_resume()
    log.info("%s: %s training (%d train, %d val cases; %s, seed %d)", name, "resuming" if resume else "starting",
             len(fold.train), len(fold.val), config.model.name, config.runtime.seed)
    result = train(config, data_root, data_format, train_dir, resume=resume, progress=progress)
    weights = result.best_checkpoint or run.last_weights
    # the weights record the rule training selected them with (runtime.val_postprocess): one rule, train and test
    segmenter = load_segmenter(weights)
    meta, input_size = segmenter.weights, segmenter.input_size
    reader = reader or open_dataset(data_root, data_format)
    log.info("%s: evaluating %d test cases with %s", name, len(fold.test), weights)
    evaluation = evaluate_model(segmenter, reader, split=None, case_ids=fold.test, all_frames=True,
                                progress=progress)
    if not evaluation.cases:
        raise EchosegError(f"{name}: every test case failed to evaluate: {evaluation.errors[:3]}")
    metrics = table_metrics(evaluation.summary)
    if timing is not None:
        metrics["ms_per_frame"] = measure_ms_per_frame(segmenter.model, input_size, timing)
    info = {"run": name, "fold": f"{fold.index} ({fold.source}): {len(fold.train)} train, {len(fold.val)} val, "
            f"{len(fold.test)} test cases", "data": f"{data_root} ({data_format})",
            "model": f"{meta.model} {meta.model_cfg}, input {input_size[0]}x{input_size[1]}",
            "training": f"{result.steps} steps, seed {config.runtime.seed}, mean teacher "
            f"{'on' if config.mean_teacher.enabled else 'off'}; weights {weights}",
            "mask rule": segmenter.mask_rule.describe()}
    extra = {"Training": [("training curves", run.curves)]} if run.curves.is_file() else None
    write_report(evaluation, folder, title=f"echoseg {name}", info=info, extra_sections=extra)
    seconds = time.perf_counter() - started
    record = {"name": name, "fold": fold.index, "fold_source": fold.source, "model": meta.model,
              "model_cfg": meta.model_cfg, "seed": config.runtime.seed,
              "mean_teacher": config.mean_teacher.enabled, "steps": result.steps, "weights": str(weights),
              "best_which": result.best_which, "best_val_dice": result.best_dice,
              "evaluated": len(evaluation.cases), "failed_cases": len(evaluation.errors),
              "seconds": seconds, "distance_unit": evaluation.summary.get("distance_unit"),
              "mask_rule": segmenter.mask_rule.describe(), "metrics": clean_json(metrics),
              "per_video": clean_json(per_video_scores(evaluation))}
    atomic_write_text(folder / FINISHED, json.dumps(record, indent=1) + "\n")
    (folder / "run_error.txt").unlink(missing_ok=True)
    log.info("%s: done in %.0f s: Dice %.4f, HD %.2f, AUC %.4f, EF r %.3f", name, seconds, metrics["dice"],
             metrics["hd"], metrics["auc"], metrics["ef_corr"])
    return RunOutcome(name, folder, metrics, seconds=seconds, unit=evaluation.summary.get("distance_unit"),
                      per_video=per_video_scores(evaluation))


def measure_ms_per_frame(model, input_size: Sequence[int], timing: Timing) -> float:
    """Whole-video CPU ms/frame of an inference-ready `model` (a Segmenter's), square inputs."""
    import torch

    from echoseg.models.benchmark import video_ms_per_frame

    h, w = input_size
    if h != w:
        raise EchosegError(f"ms/frame is measured on square inputs; the model expects {h}x{w}")
    model = copy.deepcopy(model).cpu().eval()  # already BatchNorm-folded by load_segmenter
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
            elif outcome.pending:
                log.info("%s: not run yet, left out (--finished-only)", name)
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


def shown(aggregate: Mapping[str, Mapping]) -> dict[str, dict]:
    """A table copy of an aggregate where a single value shows no ± (its std of 0 says nothing)."""
    return {k: {**v, "std": v["std"] if v.get("n", 0) > 1 else float("nan")} for k, v in aggregate.items()}


def units_note(outcomes: Sequence[RunOutcome]) -> str:
    units = sorted({o.unit for o in outcomes if o.unit})
    return f"HD in {' / '.join(units)}. " if units else ""


def shared_cache(config, out_dir: Path):
    """Runs on the same cases at the same size share one frame cache (the cache key names the cases)."""
    config = copy.deepcopy(config)
    if not config.data.cache_dir:
        config.data.cache_dir = str((out_dir / "cache").resolve())
    return config


def plan_record(plan: Sequence[Fold]) -> list[dict]:
    """The folds of a protocol's summary JSON: index, source and case counts."""
    return [{"index": f.index, "source": f.source, "train": len(f.train), "val": len(f.val), "test": len(f.test)}
            for f in plan]


def runs_record(outcomes: Sequence[RunOutcome]) -> list[dict]:
    """The runs of a protocol's summary JSON: name, folder, metrics, error, seconds, skipped, pending."""
    return [{"name": o.name, "folder": str(o.folder), "metrics": clean_json(o.metrics), "error": o.error,
             "seconds": o.seconds, "skipped": o.skipped, "pending": o.pending} for o in outcomes]


def unfinished_note(outcomes: Sequence[RunOutcome], what: str = "runs") -> str:
    """For a protocol's Markdown: "\n\nFailed runs: name (error), ..." and "\n\nNot run yet (--finished-only):
    k of n runs: name, ..." for those there are, or ""."""
    failed = [o for o in outcomes if o.error]
    pending = [o for o in outcomes if o.pending]
    note = f"\n\nFailed {what}: {', '.join(f'{o.name} ({o.error})' for o in failed)}" if failed else ""
    if pending:
        # the rows' means then come from different seeds; the paired CIs use only seeds both rows finished
        note += (f"\n\nNot run yet (--finished-only): {len(pending)} of {len(outcomes)} {what}: "
                 f"{', '.join(o.name for o in pending)}. An interim table: its rows may average different seeds "
                 "(compare rows through the paired CIs, which pair only seeds and videos both rows finished).")
    return note

