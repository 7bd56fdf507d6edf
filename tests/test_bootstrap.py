"""Paired bootstrap CIs: pairing by video, seeds pooled or carried (seeds x videos), coverage of a known difference."""

import numpy as np
import pytest

from echoseg.evaluation.bootstrap import bootstrap_ci, paired_differences, per_seed_text, seed_video_ci, verdict


def test_differences_pair_videos_and_pool_the_shared_seeds():
    a = {0: {"v1": 0.9, "v2": 0.8, "v3": 0.7}, 1: {"v1": 0.7, "v2": 0.6}, 2: {"v1": 1.0}}
    b = {0: {"v1": 0.8, "v2": 0.8, "v4": 0.1}, 1: {"v1": 0.5, "v2": float("nan")}}
    d = paired_differences(a, b)
    # seed 2 is only in a, v3/v4 only on one side, the NaN pair is left out
    assert d == pytest.approx({"v1": (0.1 + 0.2) / 2, "v2": 0.0})


def test_a_constant_difference_has_a_zero_width_interval_and_is_a_win():
    ci = bootstrap_ci({f"v{i}": 0.02 for i in range(40)})
    assert ci["mean"] == ci["low"] == ci["high"] == pytest.approx(0.02) and ci["n"] == 40
    assert verdict(ci) == "better" and verdict(ci, higher_is_better=False) == "worse"


def test_interval_width_matches_the_normal_approximation_and_is_seeded():
    rng = np.random.default_rng(3)
    d = rng.normal(0.0, 0.05, 400)
    ci = bootstrap_ci(d, seed=1)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert ci["low"] < d.mean() < ci["high"]
    assert (ci["high"] - ci["low"]) / 2 == pytest.approx(half, rel=0.1)
    assert bootstrap_ci(d, seed=1) == ci  # deterministic
    assert verdict(bootstrap_ci(d - d.mean())) == "no difference shown"


def test_coverage_of_a_known_mean_difference():
    # 95% intervals from 200 independent samples of 40 videos should cover the true mean ~95% of the time.
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        ci = bootstrap_ci(rng.normal(0.01, 0.03, 40), n_resamples=2000, seed=trial)
        covered += ci["low"] <= 0.01 <= ci["high"]
    assert 0.88 <= covered / 200 <= 0.99


def test_too_few_videos():
    assert np.isnan(bootstrap_ci({"v": 0.1})["low"]) and verdict(bootstrap_ci({})) == "too few videos"


def _per_seed(offsets, n_videos=40, seed=5):
    """{seed: {video: difference}}: the same per-video differences, shifted by each seed's offset."""
    base = np.random.default_rng(seed).normal(0.01, 0.03, n_videos)
    return {s: {f"v{i}": float(d + off) for i, d in enumerate(base)} for s, off in enumerate(offsets)}


def test_seed_video_ci_matches_the_videos_only_interval_when_the_seeds_agree():
    per_seed = _per_seed([0.0, 0.0, 0.0])
    headline = seed_video_ci(per_seed, seed=2)
    plain = bootstrap_ci(paired_differences(per_seed, {s: {v: 0.0 for v in d} for s, d in per_seed.items()}), seed=2)
    assert headline["mean"] == pytest.approx(plain["mean"]) and headline["seeds"] == 3 and headline["n"] == 40
    assert headline["low"] == pytest.approx(plain["low"], abs=0.001)
    assert headline["high"] == pytest.approx(plain["high"], abs=0.001)


def test_seed_video_ci_widens_when_the_seeds_disagree_and_a_one_seed_gain_is_not_called_a_win():
    # The case: the win rests on one seed (+0.004 / +0.002 / +0.022 in the real sweep).
    agree, disagree = _per_seed([0.01, 0.01, 0.01]), _per_seed([-0.005, -0.002, 0.037])
    narrow, wide = seed_video_ci(agree), seed_video_ci(disagree)
    assert narrow["mean"] == pytest.approx(wide["mean"])  # same mean difference, other spread over seeds
    assert (wide["high"] - wide["low"]) > 2 * (narrow["high"] - narrow["low"])
    assert verdict(narrow) == "better" and verdict(wide) == "no difference shown"
    base_mean = narrow["per_seed"][0] - 0.01
    assert list(wide["per_seed"].values()) == pytest.approx([base_mean + off for off in (-0.005, -0.002, 0.037)])
    assert per_seed_text(wide).count("/") == 2


def test_one_seed_gives_the_videos_only_interval():
    one = seed_video_ci(_per_seed([0.0]), seed=4)
    assert one["seeds"] == 1 and one["low"] < one["mean"] < one["high"]


def test_a_difference_from_one_training_seed_is_not_called_a_plain_win():
    # one seed: the interval holds video variance only, so a side of 0 is reported with that caveat
    one = seed_video_ci(_per_seed([0.01]))
    assert one["seeds"] == 1 and one["low"] > 0
    assert verdict(one) == "better (1 seed)" and verdict(one, higher_is_better=False) == "worse (1 seed)"
    assert verdict(seed_video_ci(_per_seed([0.01, 0.01]))) == "better"
