"""From probabilities to the LV mask users get: one rule for `predict`, `evaluate`, streaming and the demo."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

THRESHOLD = 0.5


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Largest connected component with holes filled: small islands and holes must not move the axis."""
    mask = np.asarray(mask, dtype=bool)
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask)


def mask_from_probs(probs: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """bool (H, W): pixels with probability >= threshold, largest connected component, holes filled.

    The LV cavity is one blob, so stray islands and pinholes are noise; `evaluate` scores exactly the
    masks `predict` writes.
    """
    return clean_mask(np.asarray(probs) >= threshold)
