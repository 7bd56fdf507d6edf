"""Paired bootstrap confidence intervals for the difference between two methods on the same cases.

Two methods scored on the same test videos give paired values a_i, b_i. The difference of their
means, mean(a - b), gets a percentile confidence interval from `n_boot` resamples of the *cases*
with replacement (the pairs stay together, so case difficulty cancels). A CI that contains 0 means
"no difference shown" at that level, not "equal".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> dict[str, float]:
    """{"diff", "low", "high", "n"}: mean(a - b) over pairs where both are finite, and its percentile CI.

    Resamples are drawn from numpy's generator seeded with `seed`, so the interval is reproducible.
    With fewer than 2 pairs the CI is NaN (nothing to resample).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D sequences of the same length, got {a.shape} and {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    n = int(d.size)
    nan = float("nan")
    if n == 0:
        return {"diff": nan, "low": nan, "high": nan, "n": 0}
    if n < 2 or n_boot < 1:
        return {"diff": float(d.mean()), "low": nan, "high": nan, "n": n}
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, 500):  # chunks keep memory at 500 x n
        stop = min(n_boot, start + 500)
        means[start:stop] = d[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"diff": float(d.mean()), "low": float(low), "high": float(high), "n": n}


def shows_difference(ci: dict[str, float]) -> bool:
    """True when the CI excludes 0 (a difference is shown at the CI's level)."""
    return bool(np.isfinite(ci["low"]) and np.isfinite(ci["high"]) and (ci["low"] > 0 or ci["high"] < 0))
