"""Patient-level folds, fold aggregation and the Table 2 formatter."""

import math

import pytest

from echoseg.data.schema import CaseRecord
from echoseg.data.splits import make_folds, read_camus_split_lists
from echoseg.errors import DataError
from echoseg.evaluation.folds import aggregate_folds, format_table, headline_metrics


def _camus_records(n_patients):
    return [CaseRecord(case_id=f"patient{p:04d}_{v}", patient_id=f"patient{p:04d}", view=v)
            for p in range(1, n_patients + 1) for v in ("2CH", "4CH")]


def test_kfold_is_patient_level_complete_and_deterministic():
    records = _camus_records(23)
    folds = make_folds(records, k=5, seed=7)
    patient = {r.case_id: r.patient_id for r in records}
    tested = [c for f in folds for c in f.test]
    assert sorted(tested) == sorted(r.case_id for r in records)  # every case tested exactly once
    for f in folds:
        sets = [{patient[c] for c in part} for part in (f.train, f.val, f.test)]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        assert len(f.train) + len(f.val) + len(f.test) == len(records)
        assert len(sets[2]) in (4, 5) and len(sets[1]) == 2  # 23 patients / 5; 10% of 18-19 -> 2
    assert [f.test for f in make_folds(list(reversed(records)), k=5, seed=7)] == [f.test for f in folds]
    assert [f.test for f in make_folds(records, k=5, seed=8)] != [f.test for f in folds]


def test_official_camus_split_lists(tmp_path):
    split = tmp_path / "database_split"
    split.mkdir()
    (split / "subgroup_training.txt").write_text("patient0001\npatient0002\npatient0003\n")
    (split / "subgroup_validation.txt").write_text("patient0004\n")
    (split / "subgroup_testing.txt").write_text("patient0005\n")
    mapping = read_camus_split_lists(tmp_path / "database_nifti")
    assert mapping["patient0004"] == "val"
    (fold,) = make_folds(_camus_records(5), official=mapping)
    assert fold.source == "official"
    assert fold.test == ["patient0005_2CH", "patient0005_4CH"] and len(fold.train) == 6
    assert read_camus_split_lists(tmp_path / "elsewhere" / "x") is None
    (split / "subgroup_testing.txt").write_text("patient0005\nnot-a-patient\n")
    with pytest.raises(DataError, match="subgroup_testing.txt"):
        read_camus_split_lists(tmp_path)


def test_too_few_patients_is_an_error():
    with pytest.raises(ValueError, match="3 patients cannot make 5 folds"):
        make_folds(_camus_records(3), k=5)


def test_aggregate_folds_mean_and_sample_std():
    agg = aggregate_folds([{"dice": 0.90, "hd": 4.0}, {"dice": 0.92, "hd": float("nan")}, {"dice": 0.94, "hd": 6.0}])
    assert agg["dice"]["mean"] == pytest.approx(0.92) and agg["dice"]["std"] == pytest.approx(0.02)
    assert agg["hd"]["n"] == 2 and agg["hd"]["mean"] == pytest.approx(5.0)
    assert math.isnan(agg["hd"]["values"][1])


def test_format_table_like_paper_table_2():
    results = {
        "unet": {"EchoNet": {"dice": {"mean": 0.9012, "std": 0.0051}, "hd": {"mean": 3.5, "std": 0.25}}},
        "sscf": {"EchoNet": {"dice": {"mean": 0.9321, "std": 0.0042}, "hd": 3.1, "auc": {"mean": float("nan")}},
                 "CAMUS": {"dice": {"mean": 0.95, "std": 0.01}}},
    }
    table = format_table(results, digits={"dice": 3, "hd": 2, "auc": 3})
    lines = table.splitlines()
    assert lines[0] == "| Method | EchoNet DC | EchoNet HD | EchoNet AUC | CAMUS DC | CAMUS HD | CAMUS AUC |"
    assert lines[2] == "| unet | 0.901 ± 0.005 | 3.50 ± 0.25 | – | – | – | – |"
    assert lines[3] == "| sscf | 0.932 ± 0.004 | 3.10 | – | 0.950 ± 0.010 | – | – |"


def test_headline_metrics_from_an_evaluation_summary():
    import numpy as np

    from echoseg.evaluation.metrics import SegmentationMetrics

    truth = np.zeros((20, 20), bool)
    truth[4:14, 4:14] = True
    m = SegmentationMetrics()
    m.update(np.stack([truth, np.roll(truth, 2, 1)]), np.stack([truth, truth]), probs=np.stack([truth, truth]) * 1.0,
             case_id="a", phases=["ED", "ES"])
    summary = m.aggregate()
    summary["ef"] = {"monoplane": {"pred_vs_reference": {"mae": 4.5}, "pred_vs_true_masks": {"mae": 1.5}}}
    h = headline_metrics(summary)
    assert h["dice"] == pytest.approx((1 + 0.8) / 2) and h["hd"] == pytest.approx(1.0) and h["auc"] == 1.0
    assert h["ef_mae_vs_reference"] == 4.5 and h["ef_mae_vs_true_masks"] == 1.5
    folds = aggregate_folds([h, {**h, "dice": 0.8}])
    assert folds["dice"]["mean"] == pytest.approx(0.85)
    assert math.isnan(headline_metrics({})["dice"])
