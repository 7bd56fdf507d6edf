"""Patient-level k-fold cross-validation (the paper's 5-fold protocol; CAMUS: its official split).

`run_cv` trains and evaluates every fold into OUT/fold{i}/ (see `echoseg.workflows.protocols` for
a run's folder), then writes OUT/cv_summary.json and cv_summary.md: per-fold rows and mean ± sample
std across folds. Rerunning skips finished folds and resumes an interrupted training.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from echoseg.config import to_dict
from echoseg.data.splits import plan_folds
from echoseg.evaluation.folds import aggregate_folds, format_table
from echoseg.io import atomic_write_text
from echoseg.workflows.protocols import (
    DEFINITIONS,
    DIGITS,
    TABLE2_COLUMNS,
    ProtocolResult,
    clean_json,
    failed_note,
    run_one,
    run_protocol,
    shared_cache,
    shown,
    units_note,
    write_plan,
)

log = logging.getLogger(__name__)


def run_cv(config, data_root: str | Path, data_format: str, out_dir: str | Path, *, folds: int = 5, fold_seed: int = 0,
           limit_folds: int | None = None, progress: bool = False, label: str | None = None) -> ProtocolResult:
    """k-fold cross-validation: train and evaluate every fold into OUT/fold{i}/, aggregate mean ± std.

    config: a TrainConfig (every fold trains with it; `data.split_file` is set per fold).
    fold_seed: the seed of the patient shuffle that makes the folds (the training seed is
    `config.runtime.seed`). limit_folds: run only the first N folds (quick checks).
    label: the dataset's name in the table headers (default: the data folder's name).
    """
    from echoseg.data.readers import open_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = open_dataset(data_root, data_format)
    plan = plan_folds(reader, data_format, folds, fold_seed, config.data.val_fraction)
    write_plan(out_dir, plan)
    selected = plan[:limit_folds] if limit_folds else plan
    log.info("cv: %d fold(s) of %d (%s) over %d cases -> %s", len(selected), len(plan), plan[0].source,
             len(reader.records()), out_dir)
    config = shared_cache(config, out_dir)
    jobs = [(f"fold{f.index}", lambda f=f: run_one(config, f, data_root, data_format, out_dir / f"fold{f.index}",
                                                     reader=reader, progress=progress), out_dir / f"fold{f.index}")
            for f in selected]
    outcomes = run_protocol(jobs)
    done = [o for o in outcomes if o.metrics is not None]
    aggregate = aggregate_folds([o.metrics for o in done]) if done else {}
    label = label or Path(data_root).name or str(data_root)
    rows: dict[str, dict] = {o.name: {label: o.metrics} for o in done}
    rows["mean ± std"] = {label: shown(aggregate)}
    columns = TABLE2_COLUMNS + (("hd95", "HD95"), ("dice_pooled", "DC pooled"))
    table = format_table(rows, columns, digits=DIGITS, row_title="Fold")
    summary = {
        "protocol": f"{len(plan)}-fold patient-level cross-validation" if plan[0].source == "kfold"
                    else "CAMUS official split (one fold)",
        "data": {"root": str(data_root), "format": data_format}, "fold_seed": fold_seed,
        "folds_planned": len(plan), "folds_run": [o.name for o in outcomes],
        "config": to_dict(config), "definitions": DEFINITIONS,
        "folds": [{"name": o.name, "folder": str(o.folder), "metrics": clean_json(o.metrics), "error": o.error}
                  for o in outcomes],
        "aggregate": clean_json(aggregate),
    }
    files = {"json": out_dir / "cv_summary.json", "markdown": out_dir / "cv_summary.md"}
    atomic_write_text(files["json"], json.dumps(summary, indent=2) + "\n")
    notes = failed_note(outcomes, "folds")
    atomic_write_text(files["markdown"], f"# Cross-validation: {summary['protocol']}\n\nData: {data_root} "
                      f"({data_format}); model {config.model.name}. {units_note(outcomes)}Mean ± sample std across folds.\n\n"
                      f"{table}{notes}\n")
    return ProtocolResult(outcomes, summary, table, files)
