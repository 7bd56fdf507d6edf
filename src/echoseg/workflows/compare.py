"""The paper's comparison with published methods (section 4.4): every model trained and evaluated
on the same patient-level folds with the same augmentation, schedule and budget, then Tables 3/4
(DC, HD, AUC), 6 (EF agreement) and 7 (parameters, GFLOPs, ms/frame) next to the paper's numbers.

Layout of OUT (rerunning with the same OUT skips finished runs and resumes an interrupted one, as
`echoseg cv` does; the runs themselves are `workflows.protocols.run_one`):
    folds.json                      the fold plan (refuses a folder made with other folds)
    runs/<model>/fold<i>/           split.json, train/, metrics.json, per_case.csv, per_frame.csv, report.html, run.json
    efficiency/<model>.json         Table 7 measurements (written once per model)
    compare_summary.json            everything below as data
    compare_tables.md               the tables

What is the same for every model: the folds, the training config (`optim`, `augment`, `data`
sizes and batch sizes, seed) and the number of optimizer steps. What differs, on purpose:
- the network, and its width: SSCF-family models (unet, baseline*, sscf) take the config's model
  settings; competitors take only its `width` (plus `--model-set NAME.KEY=VALUE` overrides);
- the training recipe that belongs to the method: SSCF-family rows keep the config's mean teacher
  (`unet` trains supervised, as in the paper's Table 2); competitors train supervised (Dice + BCE)
  plus their own auxiliary losses, unless `competitors_mean_teacher` puts them in the same
  mean-teacher framework (a test of the network alone).

Statistics. Table 3/4 cells are mean ± sample std over folds of each fold's per-image mean (the
paper's form), with HD's missed frames counted and penalised HD beside it. "vs reference" columns are
paired bootstrap 95% CIs (seeds and videos resampled: `bootstrap.seed_video_ci`) of the difference of
per-video means (the video's ED and ES frames; HD penalised) over all test videos of all folds; a CI
containing 0 is "no difference shown". Table 6 pools the test videos of all folds: Pearson r, bias ± std of
(predicted EF - reference EF), MAE, and a paired bootstrap CI of the absolute-error difference.
Table 7: parameters and forward GFLOPs (FLOPs = 2 x MACs) of one window at `Efficiency.size` (256x256 by default) and
width 1.0 (the paper's sizes), and ms/frame of whole-video inference on CPU (and GPU when one is
available) of that network with BatchNorm folded, random weights (speed does not depend on them).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from echoseg.config import to_dict
from echoseg.errors import EchosegError
from echoseg.evaluation import paper_tables
from echoseg.evaluation.bootstrap import per_seed_text, verdict
from echoseg.io import atomic_write_text
from echoseg.models.registry import model_entry
from echoseg.models.variants import ABLATION_VARIANTS
from echoseg.workflows import engine
from echoseg.workflows.ablation import AblationRow, variant_config
from echoseg.workflows.protocols import (
    DEFINITIONS,
    ProtocolResult,
    clean_json,
    plan_record,
    runs_record,
    shared_cache,
    unfinished_note,
)

log = logging.getLogger(__name__)

REFERENCE = "sscf"


def default_models() -> tuple[str, ...]:
    from echoseg.models.baselines import BASELINES

    return (REFERENCE,) + BASELINES


@dataclass
class Efficiency:
    """How Table 7 is measured (once per model, at the paper's input size and width by default)."""

    size: int = 256
    width: float = 1.0
    frames: int = 4  # frames of the random video timed
    batch_size: int = 4
    reps: int = 1
    mode: str = "channels_last"  # models.benchmark.MODES
    gpu: bool = True  # also time on CUDA when it is available


# ----------------------------------------------------------------------------------- configs


def parse_model_settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """["simlvseg3d.window=5", "dff.flow_weight=0"] -> {"simlvseg3d": {"window": 5}, "dff": {"flow_weight": 0}}.
    Values are parsed as YAML (numbers, booleans, lists)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        model, dot, key = name.partition(".")
        if not sep or not dot or not model or not key:
            raise EchosegError(f"--model-set {item!r}: expected MODEL.KEY=VALUE, e.g. simlvseg3d.window=5")
        out.setdefault(model.strip(), {})[key.strip()] = yaml.safe_load(value)
    return out


def compare_config(config, name: str, overrides: Mapping[str, Any] | None = None,
                   competitors_mean_teacher: bool = False):
    """The base training config for model `name` (see the module docstring for what changes)."""
    overrides = dict(overrides or {})
    if name in ABLATION_VARIANTS:
        config = variant_config(config, AblationRow(name, None), config.runtime.seed)
    else:
        config = copy.deepcopy(config)
        config.model.name = name
        config.model.window = None
        # A network with one published size (echonet_deeplabv3) takes no width; the others share the config's.
        fixed = getattr(model_entry(name).factory, "fixed_size", False)
        config.model.settings = {} if fixed else {"width": config.model.settings.get("width", 1.0)}
        config.mean_teacher.enabled = bool(competitors_mean_teacher)
    if "window" in overrides:
        config.model.window = int(overrides.pop("window"))
    config.model.settings = {**config.model.settings, **overrides}
    return config


def check_models(models: Sequence[str], model_settings: Mapping[str, Mapping]) -> None:
    from echoseg.models.registry import available_models

    valid = available_models()
    unknown = [m for m in list(models) + list(model_settings) if m not in valid]
    if unknown:
        raise EchosegError(f"unknown model(s) {sorted(set(unknown))}; valid models: {valid}")
    if len(set(models)) != len(models):
        raise EchosegError(f"a model is listed twice in {list(models)}")


def check_configs(configs: Mapping[str, Any]) -> dict[str, int]:
    """Build every model on the meta device (no memory, no compute): a bad setting fails now, not
    hours into the protocol at that model's turn. Returns each model's window k."""
    import torch

    from echoseg.models.registry import create_model

    windows = {}
    for name, config in configs.items():
        try:
            with torch.device("meta"):
                windows[name] = int(create_model(name, **config.model.create_kwargs()).window)
        except (TypeError, ValueError) as exc:
            raise EchosegError(f"model {name} with settings {config.model.create_kwargs()}: {exc}") from None
    return windows


# ----------------------------------------------------------------------------------- efficiency (Table 7)


def measure_efficiency(name: str, settings: Mapping[str, Any], window: int | None, eff: Efficiency,
                       folder: Path) -> dict[str, Any]:
    """Params, GFLOPs and ms/frame of model `name` at eff.size and eff.width; cached in folder/<name>.json."""
    path = folder / f"{name}.json"
    cfg = dict(settings) if getattr(model_entry(name).factory, "fixed_size", False) else {**settings, "width": eff.width}
    if window is not None:
        cfg["window"] = window
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("cfg") == clean_json(cfg) and stored.get("efficiency") == asdict(eff):
            return stored
    import torch

    from echoseg.models.benchmark import model_flops, video_ms_per_frame
    from echoseg.models.fold_bn import fold_batchnorm
    from echoseg.models.registry import create_model

    gflops, video_gflops, params = model_flops(name, cfg, eff.size)
    row: dict[str, Any] = {"model": name, "cfg": clean_json(cfg), "efficiency": asdict(eff), "size": eff.size,
                           "params_m": params / 1e6, "gflops": gflops, "video_gflops": video_gflops,
                           "ms_cpu": None, "ms_gpu": None}
    if eff.frames > 0:
        torch.manual_seed(0)
        model = fold_batchnorm(create_model(name, **cfg)).eval()
        log.info("timing %s at %dx%d, width %g on CPU", name, eff.size, eff.size, eff.width)
        with torch.inference_mode():
            row["ms_cpu"] = video_ms_per_frame(model, eff.mode, eff.size, eff.frames, eff.batch_size, eff.reps)
            if eff.gpu and torch.cuda.is_available():
                row["ms_gpu"] = video_ms_per_frame(model.cuda(), "fp32", eff.size, eff.frames, eff.batch_size,
                                                   eff.reps)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(clean_json(row), indent=1) + "\n")
    return row


# ----------------------------------------------------------------------------------- per-case comparisons


# (per-video metric, scale) of the "vs reference" CIs: dice and auc in % points, hd in the distance
# unit, ef_abs_error (|predicted - reference EF|) in EF points.
# unit, ef_abs_error (|predicted - reference EF|) in EF points. HD's interval uses penalised HD: plain
# HD leaves out the frames where one mask is empty, so a model that misses frames would look better.
PAIRED_METRICS = (("dice", 100.0), ("hd_penalised", 1.0), ("auc", 100.0), ("ef_abs_error", 1.0))


def paired_vs_reference(cases: Sequence[engine.CaseResult], models: Sequence[str], reference: str, n_boot: int,
                        seed: int = 0) -> dict[str, dict[str, dict]]:
    """{model: {metric: paired bootstrap CI of model - reference}} over the test videos both have
    (`engine.paired_ci`); {} when the reference has no finished run."""
    if not any(case.arm == reference for case in cases):
        return {}
    return {m: {key: engine.paired_ci(cases, m, reference, key, scale=scale, n_resamples=n_boot, seed=seed)
                for key, scale in PAIRED_METRICS} for m in models if m != reference}


def ef_table_row(cases: Sequence[engine.CaseResult]) -> dict[str, float]:
    """Table 6 numbers over all test videos: corr, bias, sd of the difference, MAE, n."""
    from echoseg.evaluation.ef import ef_agreement

    agreement = ef_agreement([c.value("ef_pred") for c in cases], [c.value("ef_reference") for c in cases])
    return {k: agreement[k] for k in ("pearson_r", "bias", "sd_diff", "mae", "n")}


# ----------------------------------------------------------------------------------- tables


def _pm(stats: Mapping | None, scale: float, digits: int) -> str:
    if not stats or not math.isfinite(stats.get("mean", math.nan)):
        return "–"
    mean, std = stats["mean"] * scale, stats.get("std", math.nan) * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if stats.get("n", 0) > 1 and math.isfinite(std) else f"{mean:.{digits}f}"


def _ci(ci: Mapping | None, digits: int = 2) -> str:
    if not ci or not math.isfinite(ci.get("mean", math.nan)):
        return "–"
    if not math.isfinite(ci.get("low", math.nan)):
        return f"{ci['mean']:+.{digits}f}"
    mark = " (n.s.)" if verdict(ci) in ("no difference shown", "too few videos") else ""
    seeds = f"; seeds {per_seed_text(ci, digits)}" if ci.get("seeds", 0) > 1 else ""
    return f"{ci['mean']:+.{digits}f} [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}]{mark}{seeds}"


def _paper(pair: tuple[float, float] | None) -> str:
    return f"{pair[0]:.2f} ± {pair[1]:.2f}" if pair else "–"


def _ranks(values: Mapping[str, float], higher_is_better: bool = True) -> dict[str, int]:
    finite = {k: v for k, v in values.items() if math.isfinite(v)}
    ordered = sorted(finite, key=lambda k: -finite[k] if higher_is_better else finite[k])
    return {k: i + 1 for i, k in enumerate(ordered)}


def segmentation_table(models: Sequence[str], aggregates: Mapping[str, Mapping], diffs: Mapping[str, Mapping],
                       paper: str, unit: str, reference: str) -> str:
    """Table 3/4 form, ours (mean ± std over folds), paired CIs vs the reference, the paper's numbers."""
    ours = {m: aggregates.get(m, {}).get("dice", {}).get("mean", math.nan) for m in models}
    paper_rows = paper_tables.SEGMENTATION.get(paper, {})
    theirs = {m: paper_rows[m]["dice"][0] for m in models if m in paper_rows}
    rank_ours, rank_paper = _ranks(ours), _ranks(theirs)
    ref_name = paper_tables.display_name(reference)
    header = ["Method", "DC (%)", f"HD ({unit})", "HD missed", f"HD pen. ({unit})", "AUC (%)",
              f"ΔDC vs {ref_name} [95% CI]", "ΔHD pen. [95% CI]", "ΔAUC [95% CI]", "DC rank (paper)", "paper DC (%)",
              "paper HD (mm)", "paper AUC (%)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    for m in models:
        agg, d, p = aggregates.get(m, {}), diffs.get(m, {}), paper_rows.get(m, {})
        rank = str(rank_ours.get(m, "–")) + (f" ({rank_paper[m]})" if m in rank_paper else "")
        cells = [paper_tables.display_name(m), _pm(agg.get("dice"), 100, 2), _pm(agg.get("hd"), 1, 2),
                 _pm(agg.get("hd_missed"), 1, 1), _pm(agg.get("hd_penalised"), 1, 2),
                 _pm(agg.get("auc"), 100, 2), _ci(d.get("dice")) if m != reference else "reference",
                 _ci(d.get("hd_penalised")) if m != reference else "", _ci(d.get("auc")) if m != reference else "", rank,
                 _paper(p.get("dice")), _paper(p.get("hd")), _paper(p.get("auc"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ef_table(models: Sequence[str], ef_rows: Mapping[str, Mapping], diffs: Mapping[str, Mapping], paper: str,
             reference: str) -> str:
    """Table 6 form: corr, bias ± std (EF points), MAE, paired CI of |error| vs the reference, paper's numbers."""
    paper_rows = paper_tables.EJECTION_FRACTION.get(paper, {})
    # bias = mean(predicted - reference); the paper reports "average deviation" without a sign convention.
    header = ["Method", "n", "EF corr", "bias (pred − ref) ± std", "MAE",
              f"Δ|EF error| vs {paper_tables.display_name(reference)} [95% CI]", "paper corr",
              "paper bias ± std (sign not defined)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    for m in models:
        r, p = ef_rows.get(m), paper_rows.get(m)
        if not r:
            lines.append(f"| {paper_tables.display_name(m)} | – | – | – | – | – | – | – |")
            continue
        fmt = lambda v, d: f"{v:.{d}f}" if v is not None and math.isfinite(v) else "–"  # noqa: E731
        cells = [paper_tables.display_name(m), str(r["n"]), fmt(r["pearson_r"], 3),
                 f"{fmt(r['bias'], 1)} ± {fmt(r['sd_diff'], 1)}", fmt(r["mae"], 1),
                 _ci(diffs.get(m, {}).get("ef_abs_error"), 1) if m != reference else "reference",
                 f"{p[0]:.3f}" if p else "–", f"{p[1]:.1f} ± {p[2]:.1f}" if p else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def efficiency_table(models: Sequence[str], rows: Mapping[str, Mapping], trained: Mapping[str, Mapping],
                     windows: Mapping[str, int]) -> str:
    """Table 7 form: our params / GFLOPs / ms per frame at the paper's size and width, the paper's numbers."""
    any_row = next(iter(rows.values()), {})
    size, width = any_row.get("size", 256), any_row.get("efficiency", {}).get("width", 1.0)
    header = ["Method", "k", "params (M)", f"GFLOPs ({size}², FLOPs = 2 x MACs)", "ms/frame CPU", "ms/frame GPU",
              "trained: params (M) / GFLOPs", "paper GFLOPs", "paper params (M)", "paper ms/frame (GPU)"]
    lines = [f"Measured at width {width:g}, input {size}x{size}; one window's forward. GFLOPs count a multiply-add as "
             "2 FLOPs (torch.utils.flop_counter); the paper does not say which it counts.", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    for m in models:
        r, p, t = rows.get(m), paper_tables.EFFICIENCY.get(m), trained.get(m)
        fmt = lambda v, d: f"{v:.{d}f}" if v is not None and math.isfinite(v) else "–"  # noqa: E731
        cells = [paper_tables.display_name(m), str(windows.get(m, "")), fmt((r or {}).get("params_m"), 1), fmt((r or {}).get("gflops"), 1),
                 fmt((r or {}).get("ms_cpu"), 0), fmt((r or {}).get("ms_gpu"), 1),
                 f"{fmt(t['params_m'], 2)} / {fmt(t['gflops'], 2)}" if t else "–",
                 f"{p[0]:.1f}" if p else "–", f"{p[1]:.1f}" if p else "–", f"{p[2]}" if p else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- the protocol


def run_compare(config, data_root: str | Path, data_format: str, out_dir: str | Path, *,
                models: Sequence[str] | None = None, folds: int = 5, fold_seed: int = 0,
                limit_folds: int | None = None, model_settings: Mapping[str, Mapping[str, Any]] | None = None,
                competitors_mean_teacher: bool = False, efficiency: Efficiency | None = None,
                paper: str | None = None, n_boot: int = 2000, reference: str = REFERENCE,
                progress: bool = False, finished_only: bool = False) -> ProtocolResult:
    """Train and evaluate every model on the same folds, then write the paper's comparison tables.

    config: the base TrainConfig (schedule, batch sizes, augmentation, input size, seed, and the
    SSCF-family model settings). models: registry names (default: sscf and every competitor).
    folds: 0 = the dataset's own split; k >= 2 = patient-level k-fold. model_settings:
    {model: {setting: value}} overrides (e.g. {"simlvseg3d": {"window": 5}}). efficiency: how
    Table 7 is measured (None: not measured). paper: "echonet" | "camus", which paper table to print
    beside ours (default: camus for CAMUS data, echonet otherwise). reference: the model the paired
    CIs compare with (must be in `models`). finished_only: train nothing, table the runs already finished.
    """
    models = list(models or default_models())
    model_settings = {k: dict(v) for k, v in (model_settings or {}).items()}
    paper = _check_request(models, model_settings, reference, paper or ("camus" if data_format == "camus" else "echonet"))
    out_dir = Path(out_dir)
    plan = engine.plan_protocol(data_root, data_format, out_dir, folds=folds, fold_seed=fold_seed,
                                val_fraction=config.data.val_fraction, limit_folds=limit_folds)
    base = shared_cache(config, out_dir)
    configs = {m: compare_config(base, m, model_settings.get(m), competitors_mean_teacher) for m in models}
    windows = check_configs(configs)
    runs = [engine.PlannedRun(m, configs[m].runtime.seed, fold, configs[m], out_dir / "runs" / m / f"fold{fold.index}",
                              f"{m} fold {fold.index}") for m in models for fold in plan.selected]
    log.info("compare: %d models x %d fold(s) = %d runs -> %s", len(models), len(plan.selected), len(runs), out_dir)
    outcomes = engine.execute(runs, data_root, data_format, reader=plan.reader, progress=progress,
                              finished_only=finished_only)

    aggregates = {m: engine.aggregate_over_folds(engine.runs_of(runs, outcomes, lambda r, m=m: r.arm == m))
                  for m in models}
    cases = engine.case_results(runs, outcomes)
    diffs = paired_vs_reference(cases, models, reference, n_boot)
    ef_rows = {m: ef_table_row(arm_cases) for m in models if (arm_cases := [c for c in cases if c.arm == m])}
    units = {o.unit for o in outcomes if o.metrics is not None and o.unit}

    trained = {m: _trained_size(m, configs[m]) for m in models}
    eff_rows = {m: measure_efficiency(m, configs[m].model.settings, configs[m].model.window, efficiency,
                                      out_dir / "efficiency") for m in models} if efficiency is not None else {}

    unit = " / ".join(sorted(units)) or "px"
    tables = {
        "segmentation": segmentation_table(models, aggregates, diffs, paper, unit, reference),
        "ef": ef_table(models, ef_rows, diffs, paper, reference),
        "efficiency": efficiency_table(models, eff_rows, trained, windows) if eff_rows else "",
    }
    table_no = "4" if paper == "camus" else "3"
    split = "the dataset's own split" if not folds else f"{len(plan.selected)} of {folds} patient-level folds"
    setting = (f"Data: {data_root} ({data_format}), {split}; every model trained "
               f"{config.optim.steps or f'{config.optim.epochs} epochs'} steps with the same config, augmentation "
               f"and folds (competitors {'with' if competitors_mean_teacher else 'without'} mean teacher)")
    markdown = compare_markdown(tables, setting, paper, reference, n_boot) + unfinished_note(outcomes) + "\n"
    summary = {
        "form": f"Tables {table_no}, 6, 7", "paper_table": paper, "reference": reference,
        "data": {"root": str(data_root), "format": data_format},
        "folds": plan_record(plan.selected),
        "models": models, "windows": windows, "competitors_mean_teacher": competitors_mean_teacher, "n_boot": n_boot,
        "configs": {m: to_dict(c) for m, c in configs.items()}, "definitions": DEFINITIONS,
        "aggregate": clean_json(aggregates), "paired_vs_reference": clean_json(diffs), "ef": clean_json(ef_rows),
        "efficiency": clean_json(eff_rows), "trained_size": clean_json(trained),
        "runs": runs_record(outcomes),
    }
    files = engine.write_tables(out_dir, ("compare_summary.json", "compare_tables.md"), summary, markdown)
    return ProtocolResult(outcomes, summary, markdown, files)


def compare_markdown(tables: Mapping[str, str], setting: str, paper: str, reference: str, n_boot: int) -> str:
    """compare_tables.md without its failed-runs note: what was run (`setting`), then Tables 3/4, 6, 7."""
    table_no = "4" if paper == "camus" else "3"
    return (
        f"# Comparison with the paper's methods (Tables {table_no}, 6, 7)\n\n"
        f"{setting}. Paper columns: its Table {table_no} ({paper}), 6 and 7. Our cells: mean ± std over "
        f"folds; Δ: paired bootstrap 95% CI over {n_boot} resamples of the seeds and the test videos (all "
        f"folds), model minus {paper_tables.display_name(reference)}; (n.s.) = CI contains 0, no difference shown. "
        f"HD leaves out the frames where exactly one mask is empty (HD missed counts them); HD pen. counts them "
        f"at the image diagonal, and ΔHD pen. compares that. "
        f"DC rank: ours among the rows (the paper's rank among the rows it reports).\n\n"
        f"## Segmentation (Table {table_no} form)\n\n{tables['segmentation']}\n\n"
        f"## Ejection fraction (Table 6 form): all test videos, EF points\n\n{tables['ef']}\n"
        + (f"\n## Efficiency (Table 7 form)\n\n{tables['efficiency']}\n" if tables["efficiency"] else ""))


def _check_request(models: list[str], model_settings: Mapping[str, Mapping], reference: str, paper: str) -> str:
    """Refuse a comparison that cannot run, before any training; returns the paper table's name."""
    check_models(models, model_settings)
    if reference not in models:
        raise EchosegError(f"the reference model {reference!r} is not among the compared models {models}")
    if paper not in paper_tables.SEGMENTATION:
        raise EchosegError(f"paper table must be one of {sorted(paper_tables.SEGMENTATION)}, got {paper!r}")
    return paper


def _trained_size(name: str, config) -> dict[str, float]:
    """Params (M) and forward GFLOPs of the network as trained (its width, at the training input size)."""
    from echoseg.models.benchmark import model_flops

    kwargs = config.model.create_kwargs()
    h, w = config.data.input_size
    if h != w:
        return {"params_m": math.nan, "gflops": math.nan}
    gflops, _, params = model_flops(name, kwargs, h)
    return {"params_m": params / 1e6, "gflops": gflops}
