"""Paired bootstrap confidence intervals for the difference between two methods on the same videos.

Two methods evaluated on the same test videos (with the same seeds) differ by a per-video amount;
the videos are the sampling unit (a new study would bring new videos), so the interval resamples
videos with replacement and keeps each video's pair together:

    d_v    = mean over the seeds both methods ran of (metric_A(s, v) - metric_B(s, v))   seeds pooled
    CI     = percentiles (2.5, 97.5) of the mean of d over `n_resamples` resamples of the videos

An interval that contains 0 means "no difference shown" at this sample size, not "equal".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def paired_differences(a: Mapping[int, Mapping[str, float]], b: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """{video: mean over shared seeds of a[seed][video] - b[seed][video]} (non-finite pairs left out).

    a, b: {seed: {video id: metric value}} of two methods; only seeds and videos both have count.
    """
    per_video: dict[str, list[float]] = {}
    for seed in sorted(set(a) & set(b)):
        for video in sorted(set(a[seed]) & set(b[seed])):
            d = float(a[seed][video]) - float(b[seed][video])
            if math.isfinite(d):
                per_video.setdefault(video, []).append(d)
    return {video: float(np.mean(ds)) for video, ds in per_video.items()}


def bootstrap_ci(differences: Mapping[str, float] | np.ndarray, *, n_resamples: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> dict[str, float]:
    """{"mean", "low", "high", "n"}: the mean per-video difference and its percentile bootstrap CI."""
    values = np.asarray(list(differences.values()) if isinstance(differences, Mapping) else differences, float)
    values = values[np.isfinite(values)]
    n = len(values)
    nan = float("nan")
    if n < 2:
        return {"mean": float(values.mean()) if n else nan, "low": nan, "high": nan, "n": n}
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 1000):  # bounded memory for large test sets
        stop = min(n_resamples, start + 1000)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": n}


def verdict(ci: Mapping[str, float], higher_is_better: bool = True) -> str:
    """"better" / "worse" when the whole interval is on one side of 0, else "no difference shown"."""
    low, high = ci.get("low", float("nan")), ci.get("high", float("nan"))
    if not (math.isfinite(low) and math.isfinite(high)):
        return "too few videos"
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "no difference shown"
