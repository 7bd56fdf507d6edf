"""The paper's ablation: every variant (Table 2) or every window k (Table 5) on the same folds and budget.

Every row x seed x fold is one run under OUT/runs/<row>/seed<s>/fold<i>/ (see
`echoseg.workflows.protocols` for a run's folder), all with the same config apart from what the
row names: the variant, and optionally mean teacher on/off (`mean_teacher="both"`) and the fraction
of traced training videos (`label_fractions`). Every row uses one decoder (`decoder`, the paper's
U-Net by default), so rows differ only in the ablated part. Then OUT/ablation_summary.json and
ablation_table.md: mean ± std over seeds (each seed's value is the mean over its folds), and 95% CIs
of each row's difference from its reference (`comparisons`) that carry seed variance: seeds resampled,
then the same test videos within them, each video paired with itself (`bootstrap.seed_video_ci`), each
seed's difference beside them. Rerunning skips finished runs and resumes an interrupted training.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from echoseg.config import to_dict
from echoseg.errors import EchosegError
from echoseg.evaluation.bootstrap import per_seed_text, verdict
from echoseg.evaluation.folds import format_table
from echoseg.models.variants import ABLATION_VARIANTS
from echoseg.workflows import engine
from echoseg.workflows.protocols import (
    DEFINITIONS,
    DIGITS,
    TABLE2_COLUMNS,
    TIMING_COLUMN,
    ProtocolResult,
    Timing,
    clean_json,
    plan_record,
    runs_record,
    shared_cache,
    shown,
    unfinished_note,
    units_note,
)

log = logging.getLogger(__name__)


MEAN_TEACHER_MODES = ("config", "both", "on", "off")
REFERENCE = "baseline"  # the paper's Baseline (U-Net decoder, shared encoder, mean teacher): CIs are against it


@dataclass(frozen=True)
class AblationRow:
    variant: str
    window: int | None  # None: the config's window (Table 2); an int: Table 5's k
    mean_teacher: bool | None = None  # None: the config's setting (unet: off, as in the paper)
    label_fraction: float | None = None  # None: the config's data.label_fraction

    @property
    def name(self) -> str:
        name = self.variant if self.window is None or self.variant == "unet" else f"{self.variant} k={self.window}"
        if self.mean_teacher is not None and self.variant != "unet":
            name += " MT" if self.mean_teacher else " supervised"
        if self.label_fraction is not None:
            name += f" labels={self.label_fraction:g}"
        return name

    @property
    def slug(self) -> str:
        return self.name.replace(" k=", "_k").replace(" labels=", "_labels").replace(" ", "_")


def ablation_rows(variants: Sequence[str], windows: Sequence[int] | None = None, *, mean_teacher: str = "config",
                  label_fractions: Sequence[float] | None = None) -> list[AblationRow]:
    """Table 2: one row per variant. Table 5 (`windows`): every variant at every k; `unet` (single
    frame) once. mean_teacher "both": every temporal variant with and without the mean teacher
    ("on"/"off": all with / without; `unet` stays supervised, the paper's row). label_fractions:
    every row at every fraction of traced training videos."""
    unknown = sorted(set(variants) - set(ABLATION_VARIANTS))
    if unknown:
        raise EchosegError(f"unknown variants {unknown}; valid: {list(ABLATION_VARIANTS)}")
    if mean_teacher not in MEAN_TEACHER_MODES:
        raise EchosegError(f"mean teacher mode must be one of {list(MEAN_TEACHER_MODES)}, got {mean_teacher!r}")
    if label_fractions and any(not 0 < f <= 1 for f in label_fractions):
        raise EchosegError(f"label fractions must be in (0, 1], got {list(label_fractions)}")
    teacher = {"config": [None], "both": [True, False], "on": [True], "off": [False]}[mean_teacher]
    rows = []
    for fraction in label_fractions or [None]:
        for v in variants:
            windows_of_v = [None] if not windows else ([1] if v == "unet" else list(windows))
            for k in windows_of_v:
                for mt in ([None] if v == "unet" else teacher):
                    rows.append(AblationRow(v, k, mt, fraction))
    return rows


def variant_config(config, row: AblationRow, seed: int, decoder: str | None = None):
    """The base config with the row's variant, seed, mean teacher, label fraction and `decoder` (one
    for every row; None keeps each variant's default). `unet` trains supervised only with a single
    frame (the paper's Table 2 U-Net row); the others keep the config's mean-teacher settings unless
    the row says otherwise."""
    config = copy.deepcopy(config)
    config.model.name = row.variant
    config.runtime.seed = seed
    if decoder is not None:
        config.model.settings = {**config.model.settings, "decoder": decoder}
    if row.variant == "unet":
        config.model.window = 1
        config.mean_teacher.enabled = False
    else:
        if row.window is not None:
            config.model.window = row.window
        if row.mean_teacher is not None:
            config.mean_teacher.enabled = row.mean_teacher
    if row.label_fraction is not None:
        config.data.label_fraction = row.label_fraction
    return config


def comparisons(rows: Sequence[AblationRow]) -> list[tuple[AblationRow, AblationRow, str]]:
    """(row, reference, label) pairs the CIs are computed for: every row against the `baseline` row
    with the same label fraction, k and mean teacher (`unet`: the baseline with the config's mean
    teacher, as in the paper's table), and, where a variant has both, mean teacher against supervised."""
    def reference(r: AblationRow) -> AblationRow | None:
        for x in rows:
            if x.variant != REFERENCE or x.label_fraction != r.label_fraction:
                continue
            if r.variant == "unet":
                if x.mean_teacher in (None, True) and x.window in (None, 3):
                    return x
            elif x.window == r.window and x.mean_teacher == r.mean_teacher:
                return x
        return None

    pairs = []
    for r in rows:
        ref = reference(r) if r.variant != REFERENCE else None
        if ref is not None:
            pairs.append((r, ref, f"{r.name} − {ref.name}"))
        if r.mean_teacher is True:
            other = next((x for x in rows if (x.variant, x.window, x.label_fraction, x.mean_teacher)
                          == (r.variant, r.window, r.label_fraction, False)), None)
            if other is not None:
                pairs.append((r, other, f"{r.name} − {other.name}"))
    return pairs


def run_ablation(config, data_root: str | Path, data_format: str, out_dir: str | Path, *,
                 variants: Sequence[str] = ABLATION_VARIANTS, seeds: Sequence[int] = (0, 1, 2),
                 windows: Sequence[int] | None = None, folds: int = 0, fold_seed: int = 0,
                 limit_folds: int | None = None, timing: Timing | None = None,
                 progress: bool = False, label: str | None = None, decoder: str | None = "unet",
                 mean_teacher: str = "config", label_fractions: Sequence[float] | None = None,
                 finished_only: bool = False) -> ProtocolResult:
    """Every variant (or variant at every k of `windows`) x seed x fold, same folds and budget.

    folds: 0 = the dataset's own train/val/test split (one fold); k >= 2 = patient-level k-fold.
    decoder: the decoder of every row (the paper's "unet" by default; None: each variant's own).
    mean_teacher, label_fractions: extra row dimensions (`ablation_rows`).
    timing: measure ms/frame per run (Table 5); on by default when `windows` is given.
    label: the dataset's name in the table headers (default: the data folder's name).
    finished_only: train nothing, table the runs already finished (`engine.execute`).
    Returns the table as mean ± std over seeds of each row (a seed's value: mean over its folds).
    """
    out_dir = Path(out_dir)
    plan = engine.plan_protocol(data_root, data_format, out_dir, folds=folds, fold_seed=fold_seed,
                                val_fraction=config.data.val_fraction, limit_folds=limit_folds)
    rows = ablation_rows(variants, windows, mean_teacher=mean_teacher, label_fractions=label_fractions)
    if windows and timing is None:
        timing = Timing()
    config = shared_cache(config, out_dir)
    runs = [engine.PlannedRun(row.name, seed, fold, variant_config(config, row, seed, decoder),
                              out_dir / "runs" / row.slug / f"seed{seed}" / f"fold{fold.index}",
                              f"{row.name} seed {seed} fold {fold.index}", timing)
            for row in rows for seed in seeds for fold in plan.selected]
    log.info("ablation: %d rows x %d seeds x %d fold(s) = %d runs -> %s", len(rows), len(seeds), len(plan.selected),
             len(runs), out_dir)
    outcomes = engine.execute(runs, data_root, data_format, reader=plan.reader, progress=progress,
                              finished_only=finished_only)

    label = label or Path(data_root).name or str(data_root)
    aggregates = {row.name: engine.aggregate_over_seeds(runs, outcomes, row.name) for row in rows}
    table_rows = {name: {label: shown(aggregate)} for name, aggregate in aggregates.items()}
    per_row = {row.name: row_record(row, config, decoder, aggregates[row.name], runs, outcomes) for row in rows}
    columns = TABLE2_COLUMNS + ((TIMING_COLUMN,) if timing is not None else ())
    table = format_table(table_rows, columns, digits=DIGITS)
    rows_table = describe_rows(per_row)
    cis = paired_cis(rows, engine.case_results(runs, outcomes))
    ci_table = format_cis(cis)
    form = "Table 5 (k sweep)" if windows else "Table 2 (variants)"
    summary = {
        "form": form, "data": {"root": str(data_root), "format": data_format},
        "folds": plan_record(plan.selected),
        "seeds": list(seeds), "config": to_dict(config), "definitions": DEFINITIONS,
        "timing": None if timing is None else asdict(timing),
        "rows": per_row,
        "comparisons": clean_json(cis),
        "runs": runs_record(outcomes),
    }
    split = "the dataset's own split" if not folds else f"{len(plan.selected)} of {folds} patient-level folds"
    markdown = (f"# Ablation, {form}\n\nData: {data_root} ({data_format}), {split}; "
                f"seeds {list(seeds)}; same config and budget for every row (optim.steps "
                f"{config.optim.steps or str(config.optim.epochs) + ' epochs'}); mask rule: "
                f"{'largest component, holes filled' if config.runtime.val_postprocess else 'threshold 0.5'}. "
                f"{units_note(outcomes)}Mean ± std over seeds.\n\n{rows_table}\n\n{table}\n\n"
                f"95% CIs of each difference resampling seeds, then the same test videos within them (each "
                f"video paired with itself; seed variance carried); HD pen. lower is better:\n\n{ci_table}{unfinished_note(outcomes)}\n")
    files = engine.write_tables(out_dir, ("ablation_summary.json", "ablation_table.md"), summary, markdown)
    return ProtocolResult(outcomes, summary, f"{rows_table}\n\n{table}\n\n{ci_table}", files)


def row_record(row: AblationRow, config, decoder: str | None, aggregate: dict, runs, outcomes) -> dict:
    """What the summary JSON says of a row: its settings, how many seeds finished, its aggregate."""
    row_config = variant_config(config, row, 0, decoder)
    seeds_done = {r.seed for r, o in zip(runs, outcomes, strict=True) if r.arm == row.name and o.metrics is not None}
    return {"variant": row.variant, "window": row_config.model.window or 3,
            "decoder": row_config.model.settings.get("decoder", "variant default"),
            "mean_teacher": row_config.mean_teacher.enabled, "label_fraction": row_config.data.label_fraction,
            "seeds_done": len(seeds_done), "aggregate": clean_json(aggregate)}


def describe_rows(per_row: dict[str, dict]) -> str:
    """What each row is: decoder, k, mean teacher, labelled fraction (tables must say it)."""
    lines = ["| Row | decoder | k | mean teacher | traced training videos |", "|---|---|:---:|:---:|:---:|"]
    for name, r in per_row.items():
        lines.append(f"| {name} | {r['decoder']} | {r['window']} | {'on' if r['mean_teacher'] else 'off'} | "
                     f"{r['label_fraction']:g} |")
    return "\n".join(lines)


CI_METRICS = (("dice", "ΔDC", True), ("hd_penalised", "ΔHD pen.", False))


def paired_cis(rows: Sequence[AblationRow], cases: Sequence[engine.CaseResult]) -> list[dict]:
    """Paired bootstrap CIs of every comparison (`comparisons`) over the runs' per-video results."""
    out = []
    for row, ref, label in comparisons(rows):
        entry = {"row": row.name, "reference": ref.name, "label": label}
        for metric, _, higher in CI_METRICS:
            ci = engine.paired_ci(cases, row.name, ref.name, metric)
            entry[metric] = {**ci, "verdict": verdict(ci, higher_is_better=higher)}
        out.append(entry)
    return out


def format_cis(cis: list[dict]) -> str:
    """The CIs carry seed variance (seeds x videos bootstrap); each seed's ΔDC stands beside them."""
    lines = ["| Comparison | videos | seeds | " + " | ".join(f"{t} [95% CI]" for _, t, _ in CI_METRICS)
             + " | ΔDC per seed |",
             "|---|:---:|:---:|" + ":---:|" * len(CI_METRICS) + ":---:|"]
    for c in cis:
        cells = []
        for metric, _, _ in CI_METRICS:
            ci = c[metric]
            digits = 3 if metric == "dice" else 2
            if ci["n"] < 2:
                cells.append("–")
                continue
            cells.append(f"{ci['mean']:+.{digits}f} [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}] "
                         f"{ci['verdict']}")
        lines.append(f"| {c['label']} | {c['dice']['n']} | {c['dice'].get('seeds', '–')} | " + " | ".join(cells)
                     + f" | {per_seed_text(c['dice'])} |")
    return "\n".join(lines)
