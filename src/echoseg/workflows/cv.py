"""Patient-level k-fold cross-validation (the paper's 5-fold protocol; CAMUS: its official split).

`run_cv` trains and evaluates every fold into OUT/fold{i}/ (see `echoseg.workflows.protocols` for
a run's folder), then writes OUT/cv_summary.json and cv_summary.md: per-fold rows and mean ± sample
std across folds. Rerunning skips finished folds and resumes an interrupted training.
"""

from __future__ import annotations

import logging
from pathlib import Path

from echoseg.config import to_dict
from echoseg.evaluation.folds import format_table
from echoseg.workflows import engine
from echoseg.workflows.protocols import (
    DEFINITIONS,
    DIGITS,
    TABLE2_COLUMNS,
    ProtocolResult,
    clean_json,
    shared_cache,
    shown,
    unfinished_note,
    units_note,
)

log = logging.getLogger(__name__)

# What cv tabulates: Table 2's columns, HD95 and the pooled Dice, one row per fold.
CV_COLUMNS = TABLE2_COLUMNS + (("hd95", "HD95"), ("dice_pooled", "DC pooled"))


def run_cv(config, data_root: str | Path, data_format: str, out_dir: str | Path, *, folds: int = 5, fold_seed: int = 0,
           limit_folds: int | None = None, progress: bool = False, label: str | None = None,
           finished_only: bool = False) -> ProtocolResult:
    """k-fold cross-validation: train and evaluate every fold into OUT/fold{i}/, aggregate mean ± std.

    config: a TrainConfig (every fold trains with it; `data.split_file` is set per fold).
    fold_seed: the seed of the patient shuffle that makes the folds (the training seed is
    `config.runtime.seed`). limit_folds: run only the first N folds (quick checks).
    finished_only: train nothing, table the folds already finished (`engine.execute`).
    label: the dataset's name in the table headers (default: the data folder's name).
    """
    out_dir = Path(out_dir)
    plan = engine.plan_protocol(data_root, data_format, out_dir, folds=folds, fold_seed=fold_seed,
                                val_fraction=config.data.val_fraction, limit_folds=limit_folds)
    log.info("cv: %d fold(s) of %d (%s) over %d cases -> %s", len(plan.selected), len(plan.folds),
             plan.folds[0].source, len(plan.reader.records()), out_dir)
    config = shared_cache(config, out_dir)
    runs = [engine.PlannedRun("cv", config.runtime.seed, f, config, out_dir / f"fold{f.index}", f"fold{f.index}")
            for f in plan.selected]
    outcomes = engine.execute(runs, data_root, data_format, reader=plan.reader, progress=progress,
                              finished_only=finished_only)

    aggregate = engine.aggregate_over_folds(outcomes)
    label = label or Path(data_root).name or str(data_root)
    rows: dict[str, dict] = {o.name: {label: o.metrics} for o in outcomes if o.metrics is not None}
    rows["mean ± std"] = {label: shown(aggregate)}
    table = format_table(rows, CV_COLUMNS, digits=DIGITS, row_title="Fold")
    summary = {
        "protocol": f"{len(plan.folds)}-fold patient-level cross-validation" if plan.folds[0].source == "kfold"
                    else "CAMUS official split (one fold)",
        "data": {"root": str(data_root), "format": data_format}, "fold_seed": fold_seed,
        "folds_planned": len(plan.folds), "folds_run": [o.name for o in outcomes],
        "config": to_dict(config), "definitions": DEFINITIONS,
        "folds": [{"name": o.name, "folder": str(o.folder), "metrics": clean_json(o.metrics), "error": o.error,
                   "pending": o.pending} for o in outcomes],
        "aggregate": clean_json(aggregate),
    }
    markdown = (f"# Cross-validation: {summary['protocol']}\n\nData: {data_root} ({data_format}); model "
                f"{config.model.name}. {units_note(outcomes)}Mean ± sample std across folds.\n\n"
                f"{table}{unfinished_note(outcomes, 'folds')}\n")
    files = engine.write_tables(out_dir, ("cv_summary.json", "cv_summary.md"), summary, markdown)
    return ProtocolResult(outcomes, summary, table, files)
