"""From probabilities to the LV mask users get: one rule for `predict`, `evaluate` and the demo."""

from __future__ import annotations

import numpy as np

from echoseg.evaluation.disks import clean_mask

THRESHOLD = 0.5


def mask_from_probs(probs: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """bool (H, W): pixels with probability >= threshold, largest connected component, holes filled.

    The LV cavity is one blob, so stray islands and pinholes are noise; `evaluate` scores exactly the
    masks `predict` writes.
    """
    return clean_mask(np.asarray(probs) >= threshold)
