"""The real-video benchmark's arithmetic on hand-made rows (it never sees real data in tests)."""

from __future__ import annotations

import math

import pytest
from benchmarks.bench_real import agreement, paired_against


def _row(name, ef_filelist, ef_pred, plausibility=0.8, status="done"):
    return {"name": name, "ef_filelist": ef_filelist, "ef_pred": ef_pred, "status": status, "beats": 2,
            "periodicity": 0.7, "jitter": 0.03, "temporal_dice": 0.95, "plausibility": plausibility, "empty": 0.0,
            "multi_component": 0.0, "outside_lv_region": 0.0}


def test_agreement_counts_failures_and_missing_ef_apart_from_the_error():
    rows = [_row("a", 60, 50), _row("b", 40, 46), _row("c", 55, float("nan")), {"name": "d", "ef_filelist": 60,
                                                                                "status": "failed"}]
    s = agreement(rows)
    assert (s["videos"], s["failed"], s["no_ef"], s["n_ef"]) == (4, 1, 1, 2)
    assert s["bias"] == pytest.approx(-2.0) and s["mae"] == pytest.approx(8.0)


def test_paired_against_differences_are_this_minus_other_on_shared_videos():
    this = [_row("a", 60, 58, 0.9), _row("b", 40, 50, 0.6), _row("c", 50, 50, 0.7), _row("x", 50, 10)]
    other = [_row("a", 60, 50, 0.8), _row("b", 40, 45, 0.7), _row("c", 50, float("nan"), 0.5)]
    out = paired_against(this, other)
    assert out["abs_ef_error"]["n"] == 2 and out["abs_ef_error"]["mean"] == pytest.approx(((2 - 10) + (10 - 5)) / 2)
    assert out["plausibility"]["n"] == 3 and out["plausibility"]["mean"] == pytest.approx((0.1 - 0.1 + 0.2) / 3)
    assert math.isfinite(out["plausibility"]["low"]) and out["plausibility"]["verdict"] in (
        "better", "worse", "no difference shown")


def _arm(errors_by_seed):
    """One real_bench video list per training seed: video i has FileList EF 50 and |EF error| errors[i]."""
    return [[_row(f"v{i}", 50, 50 + e) for i, e in enumerate(errors)] for errors in errors_by_seed]


def test_arms_carry_seed_variance_and_match_the_videos_only_interval_when_seeds_agree():
    from benchmarks.real_arms import compare_arms

    videos = [12, 15, 18, 13, 16, 19, 14, 17]  # |EF error| of each video, all above the offsets below
    b = _arm([videos, videos, videos])
    agree = compare_arms(_arm([[e - 2 for e in videos]] * 3), b)["abs_ef_error"]
    assert agree["mean"] == pytest.approx(-2.0) and agree["high"] == pytest.approx(-2.0)
    assert agree["seeds"] == 3 and agree["verdict"] == "better"
    # one seed much better, two slightly worse: the seeds disagree, and the interval must show it
    disagree = compare_arms(_arm([[e - 6 for e in videos], [e + 1 for e in videos], [e + 1 for e in videos]]), b)
    ci = disagree["abs_ef_error"]
    assert ci["per_seed"] == {0: pytest.approx(-6.0), 1: pytest.approx(1.0), 2: pytest.approx(1.0)}
    assert ci["low"] < -1.0 and ci["high"] > 0.5 and ci["verdict"] == "no difference shown"


def test_arms_of_unequal_size_are_refused_in_one_line():
    from benchmarks.real_arms import compare_arms

    with pytest.raises(ValueError, match="same number of training seeds"):
        compare_arms(_arm([[1, 2]]), _arm([[1, 2], [1, 2]]))
