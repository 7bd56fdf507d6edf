"""The one patient-level hold-out: which patients of a list go to validation (or test).

Cases of one patient (CAMUS: a 2CH and a 4CH case) always stay together, so a held-out set never
shares a patient with training. Training (`data.val_fraction`), the protocols' dataset fold and
every cross-validation fold carve their validation patients with this function, so the same
fraction and seed always pick the same patients.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


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
