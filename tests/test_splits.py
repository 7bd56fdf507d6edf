"""The one patient-level hold-out, and the three places that carve validation patients agree on it."""

import pytest

from echoseg.data.schema import CaseRecord
from echoseg.data.splits import dataset_fold, hold_out_patients, make_folds
from echoseg.training.api import split_cases
from echoseg.training.config import resolve_config


def _patients(n):
    return [f"p{i:02d}" for i in range(n)]


@pytest.mark.parametrize("n,fraction,expected", [(10, 0.1, 1), (10, 0.25, 2), (10, 0.35, 4), (3, 0.01, 1),
                                                 (4, 1.0, 3), (10, 0.0, 0), (1, 0.5, 0)])
def test_hold_out_size(n, fraction, expected):
    assert len(hold_out_patients(_patients(n), fraction, seed=0)) == expected


def test_hold_out_is_seeded_and_independent_of_listing_order():
    patients = _patients(30)
    chosen = hold_out_patients(patients, 0.2, seed=3)
    assert chosen == hold_out_patients(list(reversed(patients)) + patients[:5], 0.2, seed=3)
    assert chosen != hold_out_patients(patients, 0.2, seed=4)
    assert chosen <= set(patients)


def test_training_protocols_and_folds_carve_the_same_validation_patients():
    records = [CaseRecord(case_id=f"{p}_{v}", patient_id=p, split="train") for p in _patients(20) for v in ("2CH", "4CH")]
    expected = hold_out_patients(_patients(20), 0.15, seed=7)
    config = resolve_config("cpu", ["data.val_fraction=0.15", "runtime.seed=7"])
    _, val_ids = split_cases(records, config)
    assert {c.split("_")[0] for c in val_ids} == expected
    fold = dataset_fold(records + [CaseRecord(case_id="t", patient_id="t", split="test")], 0.15, seed=7)
    assert {c.split("_")[0] for c in fold.val} == expected
    for f in make_folds(records, k=4, seed=7, val_fraction=0.15):
        rest = sorted({c.split("_")[0] for c in f.train + f.val})
        assert {c.split("_")[0] for c in f.val} == hold_out_patients(rest, 0.15, seed=7)


def test_a_case_with_an_unknown_split_is_not_trained_on_beside_split_cases():
    # issue 26, item 4: a FileList row with Split "Testing" (reader: split None, reported) was trained on
    records = [CaseRecord(case_id=f"c{i}", patient_id=f"p{i}", split=s)
               for i, s in enumerate(["train", "train", "train", "val", "test", None])]
    config = resolve_config("cpu", [])
    train_ids, val_ids = split_cases(records, config)
    assert train_ids == ["c0", "c1", "c2"] and val_ids == ["c3"]
    # a source without any split (all None) still trains on everything but its validation carve-out
    unsplit = [CaseRecord(case_id=f"u{i}", patient_id=f"u{i}", split=None) for i in range(10)]
    train_ids, val_ids = split_cases(unsplit, config)
    assert len(train_ids) + len(val_ids) == 10 and val_ids
