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
               `paired_ci`: the one paired difference (per seed and video) and its seeds x videos bootstrap CI
    tables     `write_tables`: the protocol's summary JSON and Markdown
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoseg.data.readers.base import Reader
from echoseg.data.splits import Fold
from echoseg.errors import EchosegError
from echoseg.evaluation.bootstrap import bootstrap_ci, paired_differences, seed_differences, seed_video_ci
from echoseg.evaluation.folds import aggregate_folds
from echoseg.io import atomic_write_text
from echoseg.workflows.protocols import RunOutcome, Timing, is_finished, plan_runs, run_one, run_protocol

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


# Settings that do not change what a run computes: a rerun may differ in them and still reuse it.
REUSE_IGNORED = {"data.split_file", "data.cache_dir", "data.num_workers", "data.prefetch_factor", "runtime.threads",
                 "runtime.device", "runtime.log_interval", "runtime.checkpoint_interval"}


def check_reuse(runs: Sequence[PlannedRun]) -> None:
    """EchosegError, before anything trains, when a planned run's folder holds a run (finished or begun)
    made with other settings: reusing it would put its results under this invocation's settings in the
    summary. The stored settings are the run's train/config.yaml."""
    import yaml

    from echoseg.config import to_dict
    from echoseg.training.api import flatten_config

    for run in runs:
        stored_file = run.folder / "train" / "config.yaml"
        if not stored_file.is_file():
            continue
        try:
            stored = flatten_config(yaml.safe_load(stored_file.read_text()) or {})
        except (OSError, yaml.YAMLError):
            continue  # unreadable: the run's own resume check reports it
        planned = flatten_config(to_dict(run.config))
        # a planned None is "resolved at training time" (e.g. a competitor's window): not a difference
        differ = sorted(k for k in planned.keys() & stored.keys() if k not in REUSE_IGNORED
                        and planned[k] is not None and _plain(planned[k]) != _plain(stored[k]))
        if differ:
            shown = ", ".join(f"{k} {stored[k]!r} -> {planned[k]!r}" for k in differ[:3])
            raise EchosegError(f"{run.folder}: holds a run made with other settings ({shown}"
                               f"{', ...' if len(differ) > 3 else ''}); its results would be reported under this "
                               "command's settings. Use another --out, or delete that folder to redo the run")


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (YAML has lists only)."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def execute(runs: Sequence[PlannedRun], data_root: str | Path, data_format: str, *, reader: Reader | None = None,
            progress: bool = False, finished_only: bool = False) -> list[RunOutcome]:
    """Every planned run in order (`protocols.run_one`); outcomes in the same order, failed ones with `error`.
    Refuses first (`check_reuse`) when a run folder holds a run made with other settings.
    finished_only: train nothing; runs not finished come back `pending` (an interim table of a long campaign)."""
    check_reuse(runs)
    pending = {run.folder for run in runs if not is_finished(run.folder)} if finished_only else set()
    if runs and len(pending) == len(runs):
        where = Path(os.path.commonpath([run.folder for run in runs]))
        raise EchosegError(f"--finished-only: none of the {len(runs)} planned runs has finished in {where}")

    def job(run: PlannedRun) -> RunOutcome:
        if run.folder in pending:
            return RunOutcome(run.name, run.folder, None, pending=True)
        return run_one(run.config, run.fold, data_root, data_format, run.folder, reader=reader, timing=run.timing,
                       progress=progress, name=run.name)

    return run_protocol([(run.name, lambda run=run: job(run), run.folder) for run in runs])


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
    """The one paired comparison of every protocol: arm - reference per (seed, test video) both ran.

    Headline ("mean", "low", "high"): the seeds x videos bootstrap CI (`bootstrap.seed_video_ci`), which
    carries training-seed variance; "per_seed": each seed's mean difference; "seeds", "n" (videos);
    "videos_only": the interval with seeds averaged per video and only videos resampled, for reference."""
    arm_values, reference_values = (per_seed_values(cases, name, metric, scale) for name in (arm, reference))
    headline = seed_video_ci(seed_differences(arm_values, reference_values), n_resamples=n_resamples, seed=seed)
    videos_only = bootstrap_ci(paired_differences(arm_values, reference_values), n_resamples=n_resamples, seed=seed)
    return {**headline, "videos_only": {"low": videos_only["low"], "high": videos_only["high"]}}


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
