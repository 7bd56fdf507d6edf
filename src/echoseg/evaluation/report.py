"""Evaluation outputs: metrics.json, per_case.csv, per_frame.csv, PNG plots and a self-contained report.html.

report.html embeds its images (base64) and its CSS, so it can be mailed or archived as one file.
Order: summary table first, then metric distributions, EF scatter and Bland-Altman, the worst cases
with overlays and LV-area curves, and the failed cases.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from echoseg.evaluation import plots
from echoseg.evaluation.metrics import FrameRecord
from echoseg.io import atomic_write_text

if TYPE_CHECKING:
    from echoseg.evaluation.evaluate import CaseResult, EvaluationResult

PER_CASE_COLUMNS = [
    "case_id", "patient_id", "view", "split", "n_frames", "n_evaluated", "dice_ed", "dice_es", "dice_mean",
    "hd_ed", "hd_es", "hd95_ed", "hd95_es", "auc_mean", "unit", "ef_pred", "ef_true_masks", "ef_reference",
    "edv_pred", "esv_pred", "edv_true", "esv_true", "volume_unit", "seconds", "error",
]
GROUP_TITLES = {"ED": "ED frames", "ES": "ES frames", "ED+ES": "ED + ES", "all_frames": "all annotated frames"}
EF_TITLES = {"pred_vs_true_masks": ("EF from predicted masks", "EF from ground-truth masks"),
             "pred_vs_reference": ("EF from predicted masks", "dataset reference EF"),
             "true_masks_vs_reference": ("EF from ground-truth masks", "dataset reference EF")}


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars/arrays -> Python, tuples -> lists (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_text(columns: list[str], rows: list[Mapping]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else
                             f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def per_case_rows(result: EvaluationResult) -> list[dict]:
    """One row per case (failed cases too, with their error), in evaluation order."""
    frames_by_case: dict[str, list[FrameRecord]] = {}
    for r in result.records:
        frames_by_case.setdefault(r.case_id, []).append(r)
    rows = []
    for case in result.cases:
        recs = frames_by_case.get(case.case_id, [])
        phase = {r.phase: r for r in recs if r.phase in ("ED", "ES")}
        nan = float("nan")

        def at(p: str, key: str, phase=phase, nan=nan) -> float:
            return getattr(phase[p], key) if p in phase else nan

        rows.append({
            "case_id": case.case_id, "patient_id": case.patient_id, "view": case.view, "split": case.split or "",
            "n_frames": case.n_frames, "n_evaluated": len(recs),
            "dice_ed": at("ED", "dice"), "dice_es": at("ES", "dice"),
            "dice_mean": float(np.mean([r.dice for r in recs])) if recs else nan,
            "hd_ed": at("ED", "hd"), "hd_es": at("ES", "hd"), "hd95_ed": at("ED", "hd95"), "hd95_es": at("ES", "hd95"),
            "auc_mean": float(np.nanmean([r.auc for r in recs])) if recs and any(np.isfinite([r.auc for r in recs]))
            else nan,
            "unit": case.unit, "ef_pred": case.ef_pred, "ef_true_masks": case.ef_true, "ef_reference": case.ef_reference,
            "edv_pred": case.edv_pred, "esv_pred": case.esv_pred, "edv_true": case.edv_true, "esv_true": case.esv_true,
            "volume_unit": case.volume_unit, "seconds": case.seconds, "error": "",
        })
    rows += [{"case_id": e["case_id"], "error": e["error"]} for e in result.errors]
    rows += [{"case_id": e["case_id"], "error": f"left out, as training leaves it out: {e['reason']}"}
             for e in result.left_out]
    return rows


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


def make_plots(result: EvaluationResult, plot_dir: Path, n_cases: int = 4) -> dict[str, list[tuple[str, Path]]]:
    """Write every plot; returns {section: [(caption, png path), ...]} in report order."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    records = result.records
    unit = result.summary.get("distance_unit", "px")
    sections: dict[str, list[tuple[str, Path]]] = {"distributions": [], "ef": [], "cases": []}
    if records:
        by_phase = {p: [r for r in records if r.phase == p] for p in ("ED", "ES", "other")}
        labels = {"ED": "ED", "ES": "ES", "other": "other frames"}
        for key, name, xlabel in (("dice", "Dice", "Dice"), ("hd", "Hausdorff distance", f"HD ({unit})"),
                                  ("hd95", "HD95", f"HD95 ({unit})")):
            values = {labels[p]: [getattr(r, key) for r in rs] for p, rs in by_phase.items() if rs}
            path = plots.distributions(values, plot_dir / f"{key}_distribution.png",
                                       title=f"{name} per frame", xlabel=xlabel)
            sections["distributions"].append((f"{name} per frame", path))
    for kind, block in result.summary.get("ef", {}).items():
        rows = result.cases if kind == "monoplane" else result.biplane
        get = (lambda r, k: getattr(r, k)) if kind == "monoplane" else (lambda r, k: r[k])
        for comparison, (pred_name, ref_name) in EF_TITLES.items():
            if comparison == "true_masks_vs_reference" or block.get(comparison, {}).get("n", 0) == 0:
                continue
            pred_key, ref_key = comparison.split("_vs_")
            keys = {"pred": "ef_pred", "true_masks": "ef_true", "reference": "ef_reference"}
            pred = [get(r, keys[pred_key]) for r in rows]
            ref = [get(r, keys[ref_key]) for r in rows]
            stem = f"ef_{kind}_{comparison}"
            sections["ef"].append((f"{kind} EF: {pred_name} vs {ref_name}", plots.ef_scatter(
                pred, ref, plot_dir / f"{stem}_scatter.png", title=f"{kind} EF",
                pred_label=f"{pred_name} (%)", ref_label=f"{ref_name} (%)")))
            sections["ef"].append((f"Bland-Altman, {kind}", plots.bland_altman(
                pred, ref, plot_dir / f"{stem}_bland_altman.png", title=f"{kind} EF",
                pred_label="predicted", ref_label="reference" if ref_key == "reference" else "truth masks")))
    cases = {c.case_id: c for c in result.cases}
    for i, snap in enumerate(result.worst[:n_cases]):
        case = cases.get(snap.case_id)
        overlay = plots.overlays(snap.panels, plot_dir / f"worst_{i + 1}_{_slug(snap.case_id)}_overlay.png",
                                 title=f"{snap.case_id} (mean Dice {snap.score:.3f})")
        sections["cases"].append((f"{snap.case_id}: truth (green) vs prediction (red)", overlay))
        if case is not None:
            sections["cases"].append((f"{snap.case_id}: LV area over time", _area_plot(case, plot_dir, i)))
    return sections


def _area_plot(case: CaseResult, plot_dir: Path, index: int) -> Path:
    dice = case.dice if len(case.dice) > 2 else None
    return plots.area_curve(case.area_pred, plot_dir / f"worst_{index + 1}_{_slug(case.case_id)}_area.png",
                            area_true=case.area_true, dice=dice, ed=[case.ed] if case.ed is not None else [],
                            es=[case.es] if case.es is not None else [], unit=case.unit, fps=case.fps,
                            title=f"{case.case_id}: LV area, prediction for every frame")


# ---------------------------------------------------------------- HTML

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #222; margin: 0;
       background: #f4f5f7; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; }
p.meta { color: #555; margin: 2px 0; font-size: 14px; }
.table-scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 4px; width: 100%; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e3e6ea; text-align: right; white-space: nowrap; }
th { background: #f0f2f5; font-weight: 600; white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
.note { color: #666; font-size: 12px; margin: 4px 0 12px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; align-items: start; }
figure { margin: 0; border: 1px solid #e3e6ea; padding: 6px; background: #fff; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; margin-top: 4px; }
.bad { color: #b00020; }
dl { font-size: 12px; color: #555; display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dt { font-weight: 600; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0 turns -0.0 into 0.0
    return html.escape(str(value))


def _ms(stats: Mapping | None, digits: int = 3) -> str:
    if not stats or stats.get("n", 0) == 0:
        return "–"
    return f"{_fmt(stats['mean'], digits)} ± {_fmt(stats['std'], digits)}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    # A wide table (many metric columns, nowrap cells) scrolls inside its own box instead of spilling past
    # the page: the segmentation table was wider than a 1300 px window, its AUC column cut off.
    return f'<div class="table-scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _summary_table(summary: Mapping) -> str:
    unit = summary.get("distance_unit", "px")
    rows = []
    for key, group in summary.get("groups", {}).items():
        c = group["counts"]
        rows.append([GROUP_TITLES.get(key, key), str(group["n_frames"]), _ms(group["dice_mean"]),
                     _fmt(group["dice_pooled"]["value"]), _ms(group["iou_mean"]), _ms(group["hd"], 2),
                     str(c["hd_undefined"]), _ms(group["hd_penalised"], 2) if "hd_penalised" in group else "–",
                     _ms(group["hd95"], 2), _ms(group["auc_mean"]), _fmt(group["auc_pooled"]["value"]),
                     f"{c['empty_pred']} / {c['empty_truth']}"])
    header = ["frames", "n", "Dice mean ± std", "Dice pooled", "IoU mean ± std", f"HD ({unit})",
              "HD missed (one mask empty)", f"HD penalised ({unit})", f"HD95 ({unit})", "AUC mean ± std",
              "AUC pooled", "empty pred / truth"]
    return _table(header, rows)


def _ef_table(ef: Mapping) -> str:
    rows = []
    for kind, block in ef.items():
        for comparison, (a, b) in EF_TITLES.items():
            s = block.get(comparison)
            if not s or s["n"] == 0:
                continue
            rows.append([f"{kind}: {a} vs {b}", str(s["n"]), _fmt(s["pearson_r"]), _fmt(s["bias"], 2),
                         _fmt(s["sd_diff"], 2), _fmt(s["mae"], 2),
                         f"[{_fmt(s['loa_lower'], 1)}, {_fmt(s['loa_upper'], 1)}]"])
    if not rows:
        return '<p class="note">No case had masks on both its ED and ES frames: no EF.</p>'
    return _table(["comparison", "n", "Pearson r", "bias (pts)", "SD of diff.", "MAE (pts)", "95% LoA"], rows)


def _temporal_table(temporal: Mapping) -> str:
    s = temporal.get("summary") or {}
    if not s:
        return ""
    rows = [[name, _ms(s.get(key), 3 if "dice" in key or key == "jitter_ratio" else 2)] for key, name in (
        ("dice_mean", "Dice over the sequence"), ("dice_min", "lowest Dice in the sequence"),
        ("area_jitter_pred_pct", "area jitter, prediction (% of mean area)"),
        ("area_jitter_true_pct", "area jitter, truth (% of mean area)"),
        ("jitter_ratio", "jitter ratio prediction / truth"),
        ("area_error_jitter_pct", "frame-to-frame area change error (%)"))]
    return (f"<h2>Temporal consistency ({temporal['n_videos']} videos with masks on every frame)</h2>"
            + _table(["measure (mean ± std over videos)", "value"], rows)
            + f'<p class="note">{html.escape(temporal["definition"])}</p>')


def render_html(result: EvaluationResult, sections: Mapping[str, list[tuple[str, Path]]], *,
                title: str, info: Mapping[str, Any] | None = None,
                extra_sections: Mapping[str, list[tuple[str, Path]]] | None = None) -> str:
    summary = result.summary
    run = summary.get("run", {})
    meta = [f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in (info or {}).items()]
    meta.append(f"split {html.escape(str(run.get('split')))}: {run.get('evaluated', 0)} videos evaluated, "
                f"{run.get('failed', 0)} failed, {run.get('frames_predicted', 0)} frames predicted "
                f"({_fmt(run.get('frames_per_second'), 1)} frames/s); distances in "
                f"{html.escape(str(summary.get('distance_unit')))}")
    parts = [f"<h1>{html.escape(title)}</h1>"] + [f'<p class="meta">{m}</p>' for m in meta]
    if str(summary.get("distance_unit", "")).startswith("mixed"):
        parts.append('<p class="meta bad">Some cases have a pixel spacing and some do not: the distance '
                     "summaries below mix mm and px. Give every case a spacing (or none) to compare them.</p>")
    parts += ["<h2>Segmentation summary</h2>", _summary_table(summary)]
    if run.get("mask_rule"):
        parts.append(f'<p class="note">Mask rule: {html.escape(str(run["mask_rule"]))}.</p>')
    if "compare" in summary:  # evaluate --compare-postprocess: the same probabilities, the other rule
        compare = summary["compare"]
        parts += [f"<h3>With mask rule: {html.escape(compare['mask_rule'])}</h3>",
                  _summary_table({**compare, "distance_unit": summary.get("distance_unit")})]
    parts.append("<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                                   for k, v in summary.get("definitions", {}).items()) + "</dl>")
    parts += ["<h2>Ejection fraction</h2>", _ef_table(summary.get("ef", {}))]
    mono = summary.get("ef", {}).get("monoplane", {})
    if mono:
        parts.append(f'<p class="note">{html.escape(mono["method"])}; bias = mean(predicted − reference).</p>')
    parts.append(_temporal_table(summary.get("temporal", {})))
    if sections.get("distributions"):
        parts += ["<h2>Distributions</h2>", '<div class="grid">']
        parts += [_img(p, c) for c, p in sections["distributions"]] + ["</div>"]
    if sections.get("ef"):
        parts += ["<h2>EF agreement</h2>", '<div class="grid">']
        parts += [_img(p, c) for c, p in sections["ef"]] + ["</div>"]
    if sections.get("cases"):
        parts += ["<h2>Worst cases (lowest mean ED/ES Dice)</h2>", '<div class="grid">']
        parts += [_img(p, c) for c, p in sections["cases"]] + ["</div>"]
    for heading, figures in (extra_sections or {}).items():
        parts += [f"<h2>{html.escape(heading)}</h2>", '<div class="grid">']
        parts += [_img(p, c) for c, p in figures] + ["</div>"]
    if result.errors:
        parts += [f'<h2 class="bad">Failed cases ({len(result.errors)})</h2>',
                  _table(["case", "error"], [[html.escape(e["case_id"]), html.escape(e["error"])]
                                             for e in result.errors])]
    body = "\n".join(p for p in parts if p)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><main>\n{body}\n</main></body></html>\n")


# The files `write_report` writes into its folder (a folder holding one holds an evaluation).
REPORT_FILES = {"metrics": "metrics.json", "per_case": "per_case.csv", "per_frame": "per_frame.csv",
                "report": "report.html"}


def write_report(result: EvaluationResult, out_dir: str | Path, *, title: str = "echoseg evaluation",
                 info: Mapping[str, Any] | None = None, n_cases: int = 4,
                 extra_sections: Mapping[str, list[tuple[str, Path]]] | None = None) -> dict[str, Path]:
    """Write metrics.json, per_case.csv, per_frame.csv, plots/*.png and report.html into out_dir.

    extra_sections: {heading: [(caption, png path), ...]} appended to the report (e.g. training curves).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {key: out / name for key, name in REPORT_FILES.items()}
    document = {"info": dict(info or {}), "settings": result.settings, **result.summary,
                "biplane_per_patient": result.biplane, "errors": result.errors, "left_out": result.left_out}
    atomic_write_text(files["metrics"], json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n")
    atomic_write_text(files["per_case"], _csv_text(PER_CASE_COLUMNS, per_case_rows(result)))
    atomic_write_text(files["per_frame"], _csv_text(FrameRecord.columns(), [r.as_row() for r in result.records]))
    sections = make_plots(result, out / "plots", n_cases)
    atomic_write_text(files["report"], render_html(result, sections, title=title, info=info,
                                                         extra_sections=extra_sections))
    return files
