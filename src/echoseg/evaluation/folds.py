"""Fold results: the headline numbers of an evaluation, their aggregation across folds, and the
paper's Table 2 layout. The folds themselves are made in `echoseg.data.splits`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def headline_metrics(summary: Mapping, group: str = "ED+ES") -> dict[str, float]:
    """The numbers a fold table needs, flattened from an evaluation summary (`EvaluationResult.summary`).

    dice/iou/hd/hd95/auc are per-image means over `group`'s frames (the paper's form); hd_missed the
    number of frames left out of hd and hd95 (exactly one mask empty), hd_penalised the HD mean with
    those frames at the image diagonal; dice_pooled and
    auc_pooled the pooled forms; ef_mae_* the monoplane EF MAE against the reference and the truth masks.
    """
    g = summary.get("groups", {}).get(group)
    nan = float("nan")
    out = {k: nan for k in ("dice", "dice_pooled", "iou", "hd", "hd95", "hd_missed", "hd_penalised", "auc",
                            "auc_pooled")}
    if g:
        out.update(dice=g["dice_mean"]["mean"], dice_pooled=g["dice_pooled"]["value"], iou=g["iou_mean"]["mean"],
                   hd=g["hd"]["mean"], hd95=g["hd95"]["mean"], hd_missed=float(g["counts"]["hd_undefined"]),
                   hd_penalised=g.get("hd_penalised", {}).get("mean", nan), auc=g["auc_mean"]["mean"],
                   auc_pooled=g["auc_pooled"]["value"])
    mono = summary.get("ef", {}).get("monoplane", {})
    out["ef_mae_vs_reference"] = mono.get("pred_vs_reference", {}).get("mae", nan)
    out["ef_mae_vs_true_masks"] = mono.get("pred_vs_true_masks", {}).get("mae", nan)
    return out


def aggregate_folds(fold_metrics: Sequence[Mapping[str, float]]) -> dict[str, dict]:
    """Mean ± sample std (ddof=1) across folds of each metric: {name: {"mean", "std", "n", "values"}}.

    Non-finite values (a fold with no defined HD, say) are left out of that metric's mean and n.
    """
    names = sorted({name for m in fold_metrics for name in m})
    out = {}
    for name in names:
        values = [float(m[name]) for m in fold_metrics if name in m and m[name] is not None]
        finite = np.array([v for v in values if math.isfinite(v)])
        out[name] = {
            "mean": float(finite.mean()) if len(finite) else float("nan"),
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else (0.0 if len(finite) else float("nan")),
            "n": int(len(finite)),
            "values": values,
        }
    return out


def _cell(stats: Mapping | float | None, digits: int) -> str:
    if stats is None:
        return "–"
    if isinstance(stats, Mapping):
        mean, std = stats.get("mean", float("nan")), stats.get("std")
        if not math.isfinite(mean):
            return "–"
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None and math.isfinite(std) else f"{mean:.{digits}f}"
    return f"{stats:.{digits}f}" if math.isfinite(stats) else "–"


def format_table(results: Mapping[str, Mapping[str, Mapping[str, Mapping | float]]],
                 columns: Sequence[tuple[str, str]] = (("dice", "DC"), ("hd", "HD"), ("auc", "AUC")),
                 digits: int | Mapping[str, int] = 3, row_title: str = "Method") -> str:
    """Table 2 layout as Markdown: one row per method, metric columns grouped by dataset.

    results[method][dataset][metric] is {"mean", "std"} (as from `aggregate_folds`) or a number.
    columns: (metric key, header) pairs, e.g. add ("ms_per_frame", "ms/frame") for Table 5.
    digits: decimals, one number or per metric key.
    """
    datasets: list[str] = []
    for per_dataset in results.values():
        datasets += [d for d in per_dataset if d not in datasets]
    header = [row_title] + [f"{d} {title}" for d in datasets for _, title in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    for method, per_dataset in results.items():
        cells = [method]
        for d in datasets:
            for key, _ in columns:
                n = digits if isinstance(digits, int) else digits.get(key, 3)
                cells.append(_cell(per_dataset.get(d, {}).get(key), n))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
