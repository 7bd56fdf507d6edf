"""The protocol engine on hand-made runs: per-case results, aggregation and the one paired difference."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from echoseg.data.splits import Fold
from echoseg.evaluation.metrics import per_video_metrics
from echoseg.workflows import engine
from echoseg.workflows.protocols import RunOutcome, per_video_scores


def _fold(index):
    return Fold(index=index, source="kfold", train=["t"], val=["v"], test=["a", "b"])


def _run(arm, seed, fold):
    return engine.PlannedRun(arm, seed, _fold(fold), None, Path(f"/x/{arm}/{seed}/{fold}"), f"{arm} {seed} {fold}")


def _outcome(dice, per_video=None):
    metrics = None if dice is None else {"dice": dice, "hd": 2 * dice}
    return RunOutcome("run", Path("/x"), metrics, per_video=per_video, error=None if metrics else "failed")


def test_per_video_metric_is_the_mean_of_the_ed_and_es_frames_with_undefined_frames_left_out():
    def frame(case, phase, dice, hd):
        return SimpleNamespace(case_id=case, phase=phase, dice=dice, hd=hd, hd_penalised=hd, auc=0.9)

    records = [frame("v1", "ED", 0.9, 2.0), frame("v1", "ES", 0.7, 4.0), frame("v1", "other", 0.1, 9.0),
               frame("v2", "ED", 0.8, math.nan), frame("v2", "ES", 0.6, math.nan)]
    scores = per_video_metrics(records, ("dice", "hd"))
    assert scores["dice"] == pytest.approx({"v1": 0.8, "v2": 0.7})  # the "other" frame does not count
    assert scores["hd"]["v1"] == pytest.approx(3.0) and math.isnan(scores["hd"]["v2"])
    evaluation = SimpleNamespace(records=records, cases=[SimpleNamespace(case_id="v1", ef_pred=60.0, ef_reference=55.0)])
    recorded = per_video_scores(evaluation)
    assert recorded["ef_pred"] == {"v1": 60.0} and recorded["ef_reference"] == {"v1": 55.0}


def test_case_results_come_from_finished_runs_with_stored_nulls_as_nan():
    runs = [_run("A", 0, 0), _run("A", 0, 1)]
    stored = json.loads(json.dumps({"dice": {"a": 0.5, "b": None}, "ef_pred": {"a": 40.0, "b": 50.0},
                                    "ef_reference": {"a": 45.0, "b": 50.0}}))  # as run.json holds it
    cases = engine.case_results(runs, [_outcome(0.5, stored), _outcome(None)])
    assert [(c.case_id, c.arm, c.fold, c.seed) for c in cases] == [("a", "A", 0, 0), ("b", "A", 0, 0)]
    assert cases[0].value("dice") == 0.5 and math.isnan(cases[1].value("dice"))
    assert cases[0].value("ef_abs_error") == 5.0 and math.isnan(cases[0].value("auc"))


def test_aggregate_over_seeds_averages_folds_first():
    runs = [_run("A", 0, 0), _run("A", 0, 1), _run("A", 1, 0), _run("A", 1, 1), _run("B", 0, 0)]
    outcomes = [_outcome(0.2), _outcome(0.4), _outcome(0.6), _outcome(None), _outcome(0.9)]
    aggregate = engine.aggregate_over_seeds(runs, outcomes, "A")
    assert aggregate["dice"]["values"] == pytest.approx([0.3, 0.6])  # seed 1's failed fold left out
    assert aggregate["dice"]["mean"] == pytest.approx(0.45) and aggregate["dice"]["n"] == 2
    assert aggregate["dice"]["std"] == pytest.approx(math.sqrt(2 * 0.15 ** 2))
    folds = engine.aggregate_over_folds(engine.runs_of(runs, outcomes, lambda r: r.arm == "A" and r.seed == 0))
    assert folds["hd"]["mean"] == pytest.approx(0.6) and folds["hd"]["n"] == 2
    assert engine.aggregate_over_seeds(runs, outcomes, "C") == {}


def test_paired_ci_pairs_the_same_video_and_seed_and_carries_seed_variance():
    def case(arm, seed, video, dice):
        return engine.CaseResult(video, arm, 0, seed, {"dice": dice})

    cases = [case("A", 0, "v1", 0.9), case("A", 1, "v1", 0.7), case("A", 0, "v2", 0.5), case("A", 0, "v3", 0.4),
             case("B", 0, "v1", 0.6), case("B", 1, "v1", 0.6), case("B", 0, "v2", 0.6), case("B", 2, "v3", 0.1)]
    # v1: seeds 0 and 1 pooled, (0.3 + 0.1) / 2 = 0.2; v2: -0.1; v3 has no shared seed
    assert engine.per_seed_values(cases, "A", "dice", scale=100) == {0: {"v1": 90.0, "v2": 50.0, "v3": 40.0},
                                                                     1: {"v1": 70.0}}
    ci = engine.paired_ci(cases, "A", "B", "dice", n_resamples=200)
    # pairs both ran: (seed 0, v1) +0.3, (seed 1, v1) +0.1, (seed 0, v2) -0.1; v3 has no shared seed
    assert ci["n"] == 2 and ci["seeds"] == 2 and ci["mean"] == pytest.approx(0.1)
    assert ci["per_seed"] == pytest.approx({0: 0.1, 1: 0.1})
    assert -0.1 - 1e-12 <= ci["low"] <= ci["high"] <= 0.3 + 1e-12
    # seeds averaged per video first (v1 +0.2, v2 -0.1), only videos resampled: the reference interval
    assert -0.1 - 1e-12 <= ci["videos_only"]["low"] <= ci["videos_only"]["high"] <= 0.2 + 1e-12
