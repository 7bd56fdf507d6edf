"""Paired bootstrap confidence intervals for the difference between two methods on the same videos.

Two methods evaluated on the same test videos (with the same training seeds) differ by an amount per
(seed, video). Both are samples: a new study brings new videos, and training again brings new seeds.

- `seed_video_ci` (the headline of `ablation` and `compare`): a two-factor bootstrap over the
  crossed seeds x videos design. Each resample draws the seeds with replacement and, independently,
  the videos with replacement, and averages the differences of every drawn (seed, video) pair:

      d[s, v] = metric_A(s, v) - metric_B(s, v)
      CI      = percentiles (2.5, 97.5) of mean(d[S*, V*]) over `n_resamples` resamples (S*, V*)

  When the seeds agree it matches the videos-only interval; when they disagree it widens by their
  spread. With one seed there is no seed variance to carry and it is the videos-only interval
  (`seeds` in the result says how many there were).
- `bootstrap_ci` on `paired_differences` (seeds averaged per video, videos resampled): the
  videos-only interval, which treats the seeds as fixed; kept beside the headline.

An interval that contains 0 means "no difference shown" at this sample size, not "equal".
"""

from __future__ import annotations

import math
import warnings
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


def seed_differences(a: Mapping[int, Mapping[str, float]], b: Mapping[int, Mapping[str, float]]) -> dict[int, dict[str, float]]:
    """{seed: {video: a - b}} over the seeds and videos both have (non-finite pairs left out)."""
    out: dict[int, dict[str, float]] = {}
    for seed in sorted(set(a) & set(b)):
        for video in sorted(set(a[seed]) & set(b[seed])):
            d = float(a[seed][video]) - float(b[seed][video])
            if math.isfinite(d):
                out.setdefault(seed, {})[video] = d
    return out


def seed_video_ci(per_seed: Mapping[int, Mapping[str, float]], *, n_resamples: int = 10_000, level: float = 0.95,
                  seed: int = 0) -> dict:
    """{"mean", "low", "high", "n", "seeds", "per_seed"}: the mean difference over every (seed, video) pair,
    its seeds x videos bootstrap CI (module doc), the number of videos and seeds, and each seed's mean.
    A video a seed lacks is left out of that seed's mean (the resampled means skip the gap)."""
    seeds = sorted(per_seed)
    videos = sorted({v for values in per_seed.values() for v in values})
    nan = float("nan")
    if not seeds or not videos:
        return {"mean": nan, "low": nan, "high": nan, "n": 0, "seeds": len(seeds), "per_seed": {}}
    table = np.full((len(seeds), len(videos)), np.nan)
    column = {v: j for j, v in enumerate(videos)}
    for i, s in enumerate(seeds):
        for v, d in per_seed[s].items():
            table[i, column[v]] = d
    result = {"mean": float(np.nanmean(table)), "low": nan, "high": nan, "n": len(videos), "seeds": len(seeds),
              "per_seed": {int(s): float(np.nanmean(table[i])) for i, s in enumerate(seeds)}}
    if len(videos) < 2:
        return result
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    n_seeds, n_videos = table.shape
    for start in range(0, n_resamples, 500):  # bounded memory: (500, seeds, videos) at a time
        k = min(n_resamples, start + 500) - start
        rows = rng.integers(0, n_seeds, (k, n_seeds)) if n_seeds > 1 else np.zeros((k, 1), int)
        cols = rng.integers(0, n_videos, (k, n_videos))
        drawn = table[rows[:, :, None], cols[:, None, :]]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample of only gaps: NaN, skipped below
            means[start:start + k] = np.nanmean(drawn.reshape(k, -1), axis=1)
    tail = (1.0 - level) / 2.0
    result["low"], result["high"] = (float(q) for q in np.nanquantile(means, [tail, 1.0 - tail]))
    return result


def verdict(ci: Mapping[str, float], higher_is_better: bool = True) -> str:
    """"better" / "worse" when the whole interval is on one side of 0, else "no difference shown".
    A seeds x videos interval (`seed_video_ci`) of one training seed holds no seed variance: its side of 0
    is reported as "better (1 seed)" / "worse (1 seed)", never as a plain win."""
    low, high = ci.get("low", float("nan")), ci.get("high", float("nan"))
    if not (math.isfinite(low) and math.isfinite(high)):
        return "too few videos"
    if low > 0 or high < 0:
        side = "better" if (low > 0) == higher_is_better else "worse"
        return f"{side} (1 seed)" if ci.get("seeds") == 1 else side
    return "no difference shown"


def per_seed_text(ci: Mapping, digits: int = 3) -> str:
    """Each seed's mean difference, e.g. "+0.004 / +0.002 / +0.022" ("–" without seeds), to print beside
    the headline CI: a gain that rests on one seed shows here."""
    values = list(ci.get("per_seed", {}).values())
    return " / ".join(f"{v:+.{digits}f}" for v in values) if values else "–"
