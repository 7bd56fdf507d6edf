"""Every split of cases, patient-level: the one hold-out, the dataset's own split, k-fold folds.

Cases of one patient (CAMUS: a 2CH and a 4CH case) always stay together, so a held-out set never
shares a patient with training. Training (`data.val_fraction`), the protocols' dataset fold and
every cross-validation fold carve their validation patients with `hold_out_patients`, and training
and the dataset fold fall back to it through `dataset_split`, so the same fraction and seed always
pick the same patients.

Folds split patients, never cases. The paper uses 5-fold cross-validation (80 % train / 20 % test
per fold). When the CAMUS official split lists are present
(`database_split/subgroup_{training,validation,testing}.txt`), `plan_folds` returns that one
official fold instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoseg.data.schema import CaseRecord
from echoseg.errors import DataError, EchosegError

log = logging.getLogger(__name__)


def hold_out_patients(patients: Iterable[str], fraction: float, seed: int) -> set[str]:
    """The patients to hold out: round(fraction x n), at least one when fraction > 0, and never all of
    them (at least one patient is left to train on). The choice is a seeded shuffle of the sorted
    patient ids, so it does not depend on listing order."""
    unique = sorted(set(patients))
    if fraction <= 0 or len(unique) < 2:
        return set()
    n_held = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i] for i in order[:n_held]}


def dataset_split(records: Sequence[CaseRecord], val_fraction: float, seed: int) -> tuple[list[CaseRecord], list[CaseRecord]]:
    """(train, val) records of the dataset's own split. Without val cases, `val_fraction` of the training
    patients (`hold_out_patients`, seeded) become val. Cases without a split train only when no case has
    one (a source without splits); beside split cases they are left out: a FileList row whose Split is
    not TRAIN/VAL/TEST (e.g. "Testing", which the reader reports) must not be trained on."""
    unsplit_trains = all(r.split is None for r in records)
    train = [r for r in records if r.split == "train" or (r.split is None and unsplit_trains)]
    val = [r for r in records if r.split == "val"]
    if not val:
        chosen = hold_out_patients((r.patient_id for r in train), val_fraction, seed)
        val = [r for r in train if r.patient_id in chosen]
        train = [r for r in train if r.patient_id not in chosen]
    return train, val


CAMUS_SPLIT_FILES = {"train": "subgroup_training.txt", "val": "subgroup_validation.txt", "test": "subgroup_testing.txt"}


@dataclass
class Fold:
    """Case ids of one fold. `source` is "kfold" or "official"."""

    index: int
    train: list[str]
    val: list[str]
    test: list[str]
    source: str = "kfold"

    def as_dict(self) -> dict:
        return {"index": self.index, "source": self.source, "train": self.train, "val": self.val, "test": self.test}


def read_camus_split_lists(root: str | Path) -> dict[str, str] | None:
    """{patient_id: "train"|"val"|"test"} from CAMUS `database_split/` lists; None when absent.

    Looks in ROOT/database_split and ROOT/../database_split (ROOT may be database_nifti).
    """
    root = Path(root)
    for folder in (root / "database_split", root.parent / "database_split"):
        if all((folder / name).is_file() for name in CAMUS_SPLIT_FILES.values()):
            break
    else:
        return None
    mapping: dict[str, str] = {}
    for split, name in CAMUS_SPLIT_FILES.items():
        for line in (folder / name).read_text().splitlines():
            patient = line.strip()
            if not patient:
                continue
            if not re.fullmatch(r"patient\d+", patient):
                raise DataError(folder / name, f"expected a patient id like patient0001, got {patient!r}")
            if patient in mapping and mapping[patient] != split:
                raise DataError(folder / name, f"{patient} is in both {mapping[patient]} and {split} lists")
            mapping[patient] = split
    return mapping


def make_folds(records: Sequence[CaseRecord], k: int = 5, seed: int = 0, *, val_fraction: float = 0.1,
               official: Mapping[str, str] | None = None) -> list[Fold]:
    """Patient-level folds over `records`.

    k-fold (default): patients are shuffled with `seed` (sorted first, so the result does not depend
    on listing order) and dealt into k test folds of near-equal size; each fold's other patients are
    split again into val and train by `echoseg.data.splits.hold_out_patients` (`val_fraction` of
    them, at least one when val_fraction > 0).
    official: {patient_id: split} (e.g. `read_camus_split_lists`): one fold following it; patients
    missing from the lists are left out.
    """
    by_patient: dict[str, list[str]] = {}
    for r in records:
        by_patient.setdefault(r.patient_id, []).append(r.case_id)
    patients = sorted(by_patient)

    def cases(pats) -> list[str]:
        return sorted(c for p in pats for c in by_patient[p])

    if official is not None:
        groups = {s: [p for p in patients if official.get(p) == s] for s in ("train", "val", "test")}
        if not groups["test"] or not groups["train"]:
            raise ValueError("official split lists name no training or no test patient among these records")
        return [Fold(0, cases(groups["train"]), cases(groups["val"]), cases(groups["test"]), "official")]
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    if len(patients) < k:
        raise ValueError(f"{len(patients)} patients cannot make {k} folds")
    rng = np.random.default_rng(seed)
    order = [patients[i] for i in rng.permutation(len(patients))]
    test_sets = [order[i::k] for i in range(k)]
    folds = []
    for i, test in enumerate(test_sets):
        held_out = set(test)
        rest = [p for p in order if p not in held_out]
        val = hold_out_patients(rest, val_fraction, seed)
        folds.append(Fold(i, cases(p for p in rest if p not in val), cases(val), cases(test)))
    return folds


def plan_folds(reader, data_format: str, k: int = 5, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    """Patient-level k-fold over a Reader's usable cases; CAMUS official split lists, when present
    beside the data, give their one official fold instead."""
    official = read_camus_split_lists(reader.root) if data_format == "camus" else None
    if official is not None:
        log.info("CAMUS official split lists found: one official fold instead of %d-fold", k)
    try:
        return make_folds(reader.records(), k=k, seed=seed, val_fraction=val_fraction, official=official)
    except ValueError as exc:
        raise EchosegError(f"{reader.root}: {exc}") from None


def dataset_fold(records: Sequence[CaseRecord], val_fraction: float = 0.1, seed: int = 0) -> Fold:
    """The dataset's own train/val/test split as one fold (val carved by `dataset_split` if missing)."""
    test = [r.case_id for r in records if r.split == "test"]
    if not test:
        raise EchosegError("the dataset has no test split; use k-fold cross-validation (--folds 5) instead")
    train, val = dataset_split(records, val_fraction, seed)
    return Fold(0, sorted(r.case_id for r in train), sorted(r.case_id for r in val), sorted(test), source="dataset")
