"""The protocol engine: plan -> runs -> one typed per-case result -> aggregate -> tables.

cv, ablation and compare are specifications on top of it: which runs to make (an *arm* — a model,
an ablation row — times training seeds times folds) and what to tabulate. The engine does the rest,
the same way for all three, as nnU-Net's cross-validation gathers every fold's predictions and
scores them with one function:

    plan       `plan_protocol`: the folds (patient-level k-fold or the dataset's own split), recorded
               in OUT/folds.json; `PlannedRun`: one arm x seed x fold with its config and folder
    runs       `execute`: `protocols.run_one` for every planned run (a failure is recorded, the others
               go on; a rerun skips finished runs)
    per case   `case_results`: one `CaseResult` per test video of every finished run, its metrics the
               one per-video definition (`evaluation.metrics.per_video_metrics`: mean over the ED and ES)
               plus the video's EF, all read from the run's run.json
    aggregate  `aggregate_over_folds` / `aggregate_over_seeds` of the runs' table metrics;
               `paired_ci`: the one paired difference (per video, seeds pooled) and its bootstrap CI
    tables     `write_tables`: the protocol's summary JSON and Markdown
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoseg.data.readers.base import Reader
from echoseg.data.splits import Fold
from echoseg.evaluation.bootstrap import bootstrap_ci, paired_differences
from echoseg.evaluation.folds import aggregate_folds
from echoseg.io import atomic_write_text
from echoseg.workflows.protocols import RunOutcome, Timing, plan_runs, refuse_changed_config, run_one, run_protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """The folds of a protocol: all that OUT/folds.json records, and the ones this invocation runs."""

    reader: Reader
    folds: list[Fold]
    selected: list[Fold]


def plan_protocol(data_root: str | Path, data_format: str, out_dir: Path, *, folds: int, fold_seed: int,
                  val_fraction: float, limit_folds: int | None = None) -> Plan:
    """folds = 0: the dataset's own split (one fold); k >= 2: patient-level k-fold (`protocols.plan_runs`)."""
    reader, plan = plan_runs(data_root, data_format, out_dir, folds=folds, fold_seed=fold_seed,
                             val_fraction=val_fraction)
    return Plan(reader, plan, plan[:limit_folds] if limit_folds else plan)


@dataclass(frozen=True)
class PlannedRun:
    """One train + evaluate run of a protocol: `arm` (what is compared) trained with `seed` on `fold`."""

    arm: str
    seed: int
    fold: Fold
    config: Any  # the TrainConfig this run trains with
    folder: Path
    name: str
    timing: Timing | None = None  # measure ms/frame after training (Table 5)


def execute(runs: Sequence[PlannedRun], data_root: str | Path, data_format: str, *, reader: Reader | None = None,
            progress: bool = False) -> list[RunOutcome]:
    """Every planned run in order (`protocols.run_one`); outcomes in the same order, failed ones with `error`.

    Refuses, before any run starts, when a planned run's folder was trained with other settings
    (`protocols.refuse_changed_config`): a finished run would otherwise be reused under the new config;
    and when a run's input size cannot fit in memory (`training.api.check_memory_fits`)."""
    from echoseg.training.api import check_memory_fits

    for run in runs:
        refuse_changed_config(run.config, run.folder)
        check_memory_fits(run.config)
    jobs = [(run.name, lambda run=run: run_one(run.config, run.fold, data_root, data_format, run.folder,
                                               reader=reader, timing=run.timing, progress=progress, name=run.name),
             run.folder) for run in runs]
    return run_protocol(jobs)


@dataclass(frozen=True)
class CaseResult:
    """One test video of one finished run: the protocol's unit of pairing and of per-video tables.

    metrics: the per-video scores (`evaluation.metrics.PER_VIDEO_METRICS`: dice, hd, hd_penalised, auc, each
    the mean over the video's ED and ES frames) and `ef_pred`, `ef_reference`; NaN when undefined.
    """

    case_id: str
    arm: str
    fold: int
    seed: int
    metrics: Mapping[str, float]

    def value(self, metric: str) -> float:
        """A per-video metric, or "ef_abs_error": |predicted EF - reference EF|."""
        if metric == "ef_abs_error":
            return abs(self.metrics.get("ef_pred", math.nan) - self.metrics.get("ef_reference", math.nan))
        return self.metrics.get(metric, math.nan)


def case_results(runs: Sequence[PlannedRun], outcomes: Sequence[RunOutcome]) -> list[CaseResult]:
    """The `CaseResult`s of every finished run, in run order and, within a run, in evaluation order."""
    out = []
    for run, outcome in zip(runs, outcomes, strict=True):
        if outcome.metrics is None:
            continue
        per_video = dict(outcome.per_video or {})
        if "ef_pred" not in per_video:  # run.json written before EF was recorded there
            per_video.update(_ef_from_report(outcome.folder))
        videos: dict[str, dict[str, float]] = {}
        for metric, values in per_video.items():
            for video, value in values.items():
                videos.setdefault(video, {})[metric] = math.nan if value is None else float(value)
        out += [CaseResult(video, run.arm, run.fold.index, run.seed, metrics) for video, metrics in videos.items()]
    return out


def _ef_from_report(folder: Path) -> dict[str, dict[str, float]]:
    """{"ef_pred": {video: EF}, "ef_reference": {...}} from a run's per_case.csv (older run folders)."""
    path = folder / "per_case.csv"
    out: dict[str, dict[str, float]] = {"ef_pred": {}, "ef_reference": {}}
    if not path.is_file():
        return out
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("error"):
                for key in out:
                    out[key][row["case_id"]] = float(row[key]) if row.get(key) else math.nan
    return out


def aggregate_over_folds(outcomes: Iterable[RunOutcome]) -> dict[str, dict]:
    """Mean ± sample std over the finished runs (folds) of each table metric; {} when none finished."""
    done = [o.metrics for o in outcomes if o.metrics is not None]
    return aggregate_folds(done) if done else {}


def aggregate_over_seeds(runs: Sequence[PlannedRun], outcomes: Sequence[RunOutcome], arm: str) -> dict[str, dict]:
    """Mean ± sample std over seeds of one arm, a seed's value being the mean over its finished folds
    (`n` = seeds with a finished fold); {} when none finished."""
    per_seed = []
    for seed in dict.fromkeys(run.seed for run in runs if run.arm == arm):
        got = [o for r, o in zip(runs, outcomes, strict=True) if r.arm == arm and r.seed == seed]
        folds = aggregate_over_folds(got)
        if folds:
            per_seed.append({k: v["mean"] for k, v in folds.items()})
    return aggregate_folds(per_seed) if per_seed else {}


def per_seed_values(cases: Iterable[CaseResult], arm: str, metric: str,
                    scale: float = 1.0) -> dict[int, dict[str, float]]:
    """{seed: {video: value * scale}} of one arm: what `bootstrap.paired_differences` pairs on."""
    out: dict[int, dict[str, float]] = {}
    for case in cases:
        if case.arm == arm:
            out.setdefault(case.seed, {})[case.case_id] = case.value(metric) * scale
    return out


def paired_ci(cases: Sequence[CaseResult], arm: str, reference: str, metric: str, *, scale: float = 1.0,
              n_resamples: int = 10_000, seed: int = 0) -> dict[str, float]:
    """The one paired comparison of every protocol: arm - reference per test video (seeds both ran
    pooled; `bootstrap.paired_differences`) and the bootstrap CI of its mean (`bootstrap.bootstrap_ci`)."""
    differences = paired_differences(per_seed_values(cases, arm, metric, scale),
                                     per_seed_values(cases, reference, metric, scale))
    return bootstrap_ci(differences, n_resamples=n_resamples, seed=seed)


def write_tables(out_dir: Path, names: tuple[str, str], summary: Mapping[str, Any], markdown: str) -> dict[str, Path]:
    """OUT/<json name> (the summary) and OUT/<markdown name>; returns {"json": path, "markdown": path}."""
    files = {"json": out_dir / names[0], "markdown": out_dir / names[1]}
    atomic_write_text(files["json"], json.dumps(summary, indent=2) + "\n")
    atomic_write_text(files["markdown"], markdown)
    return files


def runs_of(runs: Sequence[PlannedRun], outcomes: Sequence[RunOutcome],
            keep: Callable[[PlannedRun], bool]) -> list[RunOutcome]:
    """The outcomes of the planned runs that `keep` selects."""
    return [o for r, o in zip(runs, outcomes, strict=True) if keep(r)]
