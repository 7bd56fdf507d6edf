"""From probabilities to the LV mask users get: one rule for `predict`, `evaluate`, streaming and the demo."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MaskRule:
    """Probabilities float (H, W) -> mask bool (H, W): pixels >= threshold, then (clean) the largest
    connected component with its holes filled.

    The LV cavity is one blob, so stray islands and pinholes are noise. One rule object travels with
    the model (`echoseg.inference.segmenter.Segmenter`), so `evaluate` scores exactly the masks
    `predict` writes and streaming returns them too.
    """

    threshold: float = THRESHOLD
    clean: bool = True

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"mask threshold must be between 0 and 1 (exclusive), got {self.threshold}")

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        mask = np.asarray(probs) >= self.threshold
        return clean_mask(mask) if self.clean else mask

    def describe(self) -> str:
        cleaning = ", largest connected component, holes filled" if self.clean else " (no post-processing)"
        return f"probability >= {self.threshold:g}{cleaning}"


def mask_from_probs(probs: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """bool (H, W) by the default rule: `MaskRule(threshold)(probs)`."""
    return MaskRule(threshold)(probs)
