"""Agreement between two series of EF estimates (predicted vs reference): bias, SD, MAE, r, limits.

The EF values themselves come from `echoseg.geometry.volumes` (method of disks, biplane Simpson).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AGREEMENT_DEFINITIONS = {
    "bias": "mean of (pred - ref), percentage points",
    "sd_diff": "sample standard deviation (ddof=1) of (pred - ref)",
    "mae": "mean |pred - ref|",
    "rmse": "sqrt(mean (pred - ref)^2)",
    "pearson_r": "Pearson correlation of pred and ref",
    "loa": "Bland-Altman 95% limits of agreement: bias ± 1.96 sd_diff",
    "n": "pairs where both values are finite (n_dropped left out)",
}


def _varies(x: np.ndarray) -> bool:
    """True when x is not constant beyond floating-point noise (else a correlation is meaningless)."""
    return float(x.std()) > 1e-9 * (1.0 + float(np.abs(x).max()))


def ef_agreement(pred: Sequence[float], ref: Sequence[float]) -> dict:
    """Agreement of two EF series: n, bias, sd_diff, mae, rmse, pearson_r, loa_lower, loa_upper."""
    p, r = np.asarray(pred, dtype=float), np.asarray(ref, dtype=float)
    if p.shape != r.shape:
        raise ValueError(f"pred has {p.shape} values, ref has {r.shape}")
    keep = np.isfinite(p) & np.isfinite(r)
    p, r = p[keep], r[keep]
    n = int(len(p))
    nan = float("nan")
    out = {"n": n, "n_dropped": int((~keep).sum()), "bias": nan, "sd_diff": nan, "mae": nan, "rmse": nan,
           "pearson_r": nan, "loa_lower": nan, "loa_upper": nan, "definitions": AGREEMENT_DEFINITIONS}
    if n == 0:
        return out
    diff = p - r
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if n > 1 else 0.0
    out.update(bias=bias, sd_diff=sd, mae=float(np.abs(diff).mean()), rmse=float(np.sqrt((diff**2).mean())),
               loa_lower=bias - 1.96 * sd, loa_upper=bias + 1.96 * sd)
    if n > 1 and _varies(p) and _varies(r):
        out["pearson_r"] = float(np.corrcoef(p, r)[0, 1])
    return out
