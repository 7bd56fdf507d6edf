"""Evaluation plots as PNG files (matplotlib's Agg canvas, no display, atomic writes).

Figures are built with `matplotlib.figure.Figure` directly, not pyplot, so nothing global is touched
and plotting from worker threads or a headless server is safe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from echoseg.evaluation.ef import ef_agreement
from echoseg.io import atomic_path

TRUTH_COLOUR = "#2ca02c"  # green
PRED_COLOUR = "#d62728"  # red
DPI = 110


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def _finite_pairs(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def bland_altman(pred: Sequence[float], ref: Sequence[float], path: str | Path, *,
                 title: str = "Bland-Altman", unit: str = "%", pred_label: str = "predicted",
                 ref_label: str = "reference") -> Path:
    """Difference (pred - ref) against the mean of the two, with bias and 95 % limits of agreement."""
    p, r = _finite_pairs(pred, ref)
    fig, axes = _figure(5.5, 4.0)
    ax = axes[0, 0]
    if len(p):
        mean, diff = (p + r) / 2, p - r
        # Round away floating-point noise so identical estimates do not plot on a 1e-14 axis.
        bias = round(float(diff.mean()), 9) + 0.0
        sd = round(float(diff.std(ddof=1)), 9) if len(diff) > 1 else 0.0
        half = max(1.0, 1.96 * sd * 1.25, float(np.abs(diff - bias).max()) * 1.15)
        ax.set_ylim(bias - half, bias + half)
        ax.scatter(mean, diff, s=14, alpha=0.7, color="#1f77b4")
        ax.axhline(bias, color="black", lw=1.2, label=f"bias {bias:+.2f}")
        for sign in (-1, 1):
            ax.axhline(bias + sign * 1.96 * sd, color="grey", ls="--", lw=1)
        ax.plot([], [], color="grey", ls="--", label=f"95% LoA [{bias - 1.96 * sd:.2f}, {bias + 1.96 * sd:.2f}]")
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no pairs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"mean of {pred_label} and {ref_label} ({unit})")
    ax.set_ylabel(f"{pred_label} − {ref_label} ({unit})")
    ax.set_title(f"{title} (n={len(p)})", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def ef_scatter(pred: Sequence[float], ref: Sequence[float], path: str | Path, *, title: str = "EF",
               pred_label: str = "EF predicted (%)", ref_label: str = "EF reference (%)") -> Path:
    """Predicted against reference values with the identity line and Pearson r."""
    p, r = _finite_pairs(pred, ref)
    fig, axes = _figure(4.5, 4.2)
    ax = axes[0, 0]
    if len(p):
        lo, hi = float(min(p.min(), r.min())), float(max(p.max(), r.max()))
        pad = max(2.0, 0.05 * (hi - lo))
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", ls="--", lw=1)
        ax.scatter(r, p, s=14, alpha=0.7, color="#1f77b4")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        corr = ef_agreement(p, r)["pearson_r"]
        r_text = f"{corr:.3f}" if np.isfinite(corr) else "–"  # undefined for n < 2 or a constant series
        stats = f"r = {r_text}, MAE = {np.abs(p - r).mean():.2f}; dashed: identity"
    else:
        stats = "no pairs"
        ax.text(0.5, 0.5, "no pairs", ha="center", va="center", transform=ax.transAxes)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(ref_label)
    ax.set_ylabel(pred_label)
    ax.set_title(f"{title} (n={len(p)})\n{stats}", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def distributions(values: Mapping[str, Sequence[float]], path: str | Path, *, title: str, xlabel: str,
                  bins: int = 30) -> Path:
    """Histogram (left) and box plot (right) of one metric for several groups (e.g. ED, ES)."""
    groups = {k: np.asarray([v for v in vals if v is not None and math.isfinite(v)], float)
              for k, vals in values.items()}
    groups = {k: v for k, v in groups.items() if len(v)}
    fig, axes = _figure(7.0, 2.8, ncols=2)
    hist, box = axes[0]
    if groups:
        all_values = np.concatenate(list(groups.values()))
        if np.ptp(all_values) > 1e-9 * (1 + np.abs(all_values).max()):
            edges = np.histogram_bin_edges(all_values, bins=bins)
        else:  # one value: a narrow bar, not one bin stretched over an arbitrary unit range
            value = float(all_values[0])
            half = max(0.01 * abs(value), 0.005)
            edges = np.array([value - half, value + half])
            hist.set_xlim(value - 10 * half, value + 10 * half)
        for name, v in groups.items():
            hist.hist(v, bins=edges, alpha=0.55, label=f"{name} (n={len(v)}, mean {v.mean():.3f})")
        hist.legend(fontsize=8)
        _horizontal_boxplot(box, list(groups.values()), list(groups))
    else:
        hist.text(0.5, 0.5, "no values", ha="center", va="center", transform=hist.transAxes)
    hist.set_xlabel(xlabel)
    hist.set_ylabel("frames")
    box.set_xlabel(xlabel)
    for ax in (hist, box):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _horizontal_boxplot(ax, data: list[np.ndarray], labels: list[str]) -> None:
    """Horizontal box plot on matplotlib >= 3.10 (orientation=) and older releases (vert=)."""
    try:
        ax.boxplot(data, orientation="horizontal", tick_labels=labels)
    except TypeError:
        ax.boxplot(data, vert=False, labels=labels)


def overlays(panels: Sequence[Mapping], path: str | Path, *, title: str = "") -> Path:
    """Frames with truth (green) and predicted (red) LV contours side by side.

    panels: [{"image": uint8 (H, W), "truth": bool (H, W), "pred": bool (H, W), "label": str}, ...]
    """
    n = max(1, len(panels))
    fig, axes = _figure(3.0 * n, 3.3, ncols=n)
    for ax, panel in zip(axes[0], panels, strict=False):
        image = np.asarray(panel["image"])
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for key, colour in (("truth", TRUTH_COLOUR), ("pred", PRED_COLOUR)):
            mask = np.asarray(panel.get(key, np.zeros(image.shape, bool)), float)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=[colour], linewidths=1.3)
        ax.set_title(panel.get("label", ""), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].plot([], [], color=TRUTH_COLOUR, label="truth")
    axes[0, 0].plot([], [], color=PRED_COLOUR, label="prediction")
    axes[0, 0].legend(fontsize=7, loc="lower left", framealpha=0.7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def area_curve(area_pred: Sequence[float], path: str | Path, *, area_true: Mapping[int, float] | None = None,
               dice: Mapping[int, float] | None = None, ed: Sequence[int] = (), es: Sequence[int] = (),
               unit: str = "px", title: str = "", fps: float | None = None) -> Path:
    """LV area over the video: prediction for every frame, truth where annotated, ED/ES marked.

    With `dice` ({frame: Dice}) a second panel shows the per-frame Dice over the sequence.
    """
    nrows = 2 if dice else 1
    fig, axes = _figure(7.0, 2.6 * nrows + 0.3, nrows=nrows)
    ax = axes[0, 0]
    frames = np.arange(len(area_pred))
    ax.plot(frames, area_pred, color=PRED_COLOUR, lw=1.3, label="prediction")
    if area_true:
        tf = np.array(sorted(area_true))
        ta = np.array([area_true[f] for f in tf])
        # Markers keep the truth visible where the prediction's line lies on top of it.
        style = {"lw": 1.3, "ls": "--"} if len(tf) > 2 else {"ls": "none"}
        ax.plot(tf, ta, color=TRUTH_COLOUR, marker="o" if len(tf) <= 60 else None, ms=6 if len(tf) <= 2 else 4,
                mfc="none", label="truth", **style)
    for frames_, colour, name in ((ed, "#1f77b4", "ED"), (es, "#ff7f0e", "ES")):
        for i, f in enumerate(frames_):
            ax.axvline(f, color=colour, lw=0.9, alpha=0.8, label=name if i == 0 else None)
    ax.set_ylabel(f"LV area ({unit}²)")
    ax.legend(fontsize=8, ncols=4, loc="upper right")
    ax.grid(alpha=0.3)
    if dice:
        dax = axes[1, 0]
        df = np.array(sorted(dice))
        dax.plot(df, [dice[f] for f in df], color="#9467bd", lw=1.2, marker="." if len(df) < 60 else None)
        dax.set_ylabel("Dice")
        dax.set_ylim(max(0.0, min(dice.values()) - 0.05), 1.0)
        dax.grid(alpha=0.3)
        dax.sharex(ax)
    axes[-1, 0].set_xlabel("frame" + (f" ({fps:g} fps)" if fps else ""))
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
