"""The paper's ablation: every variant (Table 2) or every window k (Table 5) on the same folds and budget.

Every row x seed x fold is one run under OUT/runs/<row>/seed<s>/fold<i>/ (see
`echoseg.workflows.protocols` for a run's folder), all with the same config apart from the variant,
then OUT/ablation_summary.json and ablation_table.md: mean ± std over seeds (each seed's value is
the mean over its folds). Rerunning skips finished runs and resumes an interrupted training.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from echoseg.config import to_dict
from echoseg.errors import EchosegError
from echoseg.evaluation.folds import aggregate_folds, format_table
from echoseg.io import atomic_write_text
from echoseg.models.variants import ABLATION_VARIANTS
from echoseg.workflows.protocols import (
    DEFINITIONS,
    DIGITS,
    TABLE2_COLUMNS,
    TIMING_COLUMN,
    ProtocolResult,
    Timing,
    clean_json,
    plan_runs,
    run_one,
    run_protocol,
    shared_cache,
    shown,
    units_note,
)

log = logging.getLogger(__name__)


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
    unknown = sorted(set(variants) - set(ABLATION_VARIANTS))
    if unknown:
        raise EchosegError(f"unknown variants {unknown}; valid: {list(ABLATION_VARIANTS)}")
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
                 variants: Sequence[str] = ABLATION_VARIANTS, seeds: Sequence[int] = (0, 1, 2),
                 windows: Sequence[int] | None = None, folds: int = 0, fold_seed: int = 0,
                 limit_folds: int | None = None, timing: Timing | None = None,
                 progress: bool = False, label: str | None = None) -> ProtocolResult:
    """Every variant (or variant at every k of `windows`) x seed x fold, same folds and budget.

    folds: 0 = the dataset's own train/val/test split (one fold); k >= 2 = patient-level k-fold.
    timing: measure ms/frame per run (Table 5); on by default when `windows` is given.
    label: the dataset's name in the table headers (default: the data folder's name).
    Returns the table as mean ± std over seeds of each row (a seed's value: mean over its folds).
    """
    out_dir = Path(out_dir)
    reader, plan = plan_runs(data_root, data_format, out_dir, folds=folds, fold_seed=fold_seed,
                             val_fraction=config.data.val_fraction, limit_folds=limit_folds)
    rows = ablation_rows(variants, windows)
    if windows and timing is None:
        timing = Timing()
    config = shared_cache(config, out_dir)
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
        table_rows[row.name] = {label: shown(aggregate)}
        per_row[row.name] = {"variant": row.variant, "window": 1 if row.variant == "unet" else row.window,
                             "mean_teacher": variant_config(config, row, 0).mean_teacher.enabled,
                             "seeds_done": len(per_seed), "aggregate": clean_json(aggregate)}
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
        "runs": [{"name": o.name, "folder": str(o.folder), "metrics": clean_json(o.metrics), "error": o.error,
                  "seconds": o.seconds, "skipped": o.skipped} for o in outcomes],
    }
    files = {"json": out_dir / "ablation_summary.json", "markdown": out_dir / "ablation_table.md"}
    atomic_write_text(files["json"], json.dumps(summary, indent=2) + "\n")
    failed = [o for o in outcomes if o.error]
    notes = f"\n\nFailed runs: {', '.join(f'{o.name} ({o.error})' for o in failed)}" if failed else ""
    split = "the dataset's own split" if not folds else f"{len(plan)} of {folds} patient-level folds"
    atomic_write_text(files["markdown"], f"# Ablation, {form}\n\nData: {data_root} ({data_format}), {split}; "
                      f"seeds {list(seeds)}; same config and budget for every row (optim.steps "
                      f"{config.optim.steps or str(config.optim.epochs) + ' epochs'}). {units_note(outcomes)}Mean ± std over seeds."
                      f"\n\n{table}{notes}\n")
    return ProtocolResult(outcomes, summary, table, files)
