"""Paired bootstrap CIs (evaluation/bootstrap.py)."""

import numpy as np
import pytest

from echoseg.evaluation.bootstrap import paired_bootstrap, shows_difference


def test_a_constant_shift_gives_that_difference_with_a_zero_width_interval():
    b = np.random.default_rng(0).normal(size=40)
    ci = paired_bootstrap(b + 0.25, b)
    assert ci["n"] == 40
    assert ci["diff"] == pytest.approx(0.25) and ci["low"] == pytest.approx(0.25) and ci["high"] == pytest.approx(0.25)
    assert shows_difference(ci)


def test_pairing_removes_the_shared_case_difficulty():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 10, size=60)  # huge between-case spread, shared by both methods
    a = difficulty + 1.0 + rng.normal(0, 0.5, 60)
    b = difficulty + rng.normal(0, 0.5, 60)
    ci = paired_bootstrap(a, b, n_boot=4000, seed=3)
    assert 0.6 < ci["low"] < 1.0 < ci["high"] < 1.4  # tight around 1 despite the spread
    assert shows_difference(ci)


def test_no_difference_gives_an_interval_around_zero_and_the_same_seed_the_same_interval():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=50), rng.normal(size=50)
    ci = paired_bootstrap(a, b, seed=7)
    assert ci["low"] < 0 < ci["high"] and not shows_difference(ci)
    assert paired_bootstrap(a, b, seed=7) == ci
    assert paired_bootstrap(a, b, seed=8) != ci
    # a wider confidence level gives a wider interval
    wide = paired_bootstrap(a, b, seed=7, confidence=0.99)
    assert wide["low"] <= ci["low"] and wide["high"] >= ci["high"]


def test_non_finite_pairs_are_dropped_and_tiny_samples_have_no_interval():
    ci = paired_bootstrap([1.0, np.nan, 3.0, 4.0], [0.0, 1.0, np.inf, 3.0])
    assert ci["n"] == 2 and ci["diff"] == pytest.approx(1.0)
    one = paired_bootstrap([2.0], [1.0])
    assert one["n"] == 1 and one["diff"] == 1.0 and np.isnan(one["low"]) and not shows_difference(one)
    none = paired_bootstrap([np.nan], [1.0])
    assert none["n"] == 0 and np.isnan(none["diff"])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1.0, 2.0], [1.0, 2.0], confidence=1.5)
