"""From probabilities to the LV mask users get: one rule for `predict`, `evaluate`, streaming and the demo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

THRESHOLD = 0.5


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Largest connected component with holes filled: small islands and holes must not move the axis."""
    mask = np.asarray(mask, dtype=bool)
    crop = bounding_box(mask)
    if crop is None:
        return mask.copy()
    # The work is done on the blob's bounding box plus a one-pixel ring of background: a hole there is a
    # hole in the frame (the ring connects everything outside the box), and the LV fills a few % of it.
    part = np.pad(mask[crop], 1)
    labels, count = ndimage.label(part)
    if count > 1:
        sizes = ndimage.sum_labels(part, labels, index=np.arange(1, count + 1))
        part = labels == (1 + int(np.argmax(sizes)))
    out = np.zeros_like(mask)
    out[crop] = ndimage.binary_fill_holes(part)[1:-1, 1:-1]
    return out


def bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, cols) slices of the smallest box holding every True pixel of a 2-D mask; None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


@dataclass(frozen=True)
class MaskRule:
    """Probabilities float (H, W) -> mask bool (H, W): pixels >= threshold, then, with `clean`
    (`--postprocess`), the largest connected component with its holes filled.

    The default is the raw threshold-0.5 mask, the paper's (section 3.5: no post-processing), so
    reported metrics compare with published ones; `clean` removes stray islands and pinholes (the LV
    cavity is one blob). One rule object travels with the model (`echoseg.inference.segmenter.Segmenter`),
    so `evaluate` scores exactly the masks `predict` writes and streaming returns them too; training
    selects its best checkpoint with the same rule (`runtime.val_postprocess`) and records it in the
    weights' metadata (`as_metadata`), which `load_segmenter` reads back (`from_metadata`). Volumes and
    EF clean their masks themselves (`echoseg.geometry.disks`), whatever the rule.
    """

    threshold: float = THRESHOLD
    clean: bool = False

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"mask threshold must be between 0 and 1 (exclusive), got {self.threshold}")

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        mask = np.asarray(probs) >= self.threshold
        return clean_mask(mask) if self.clean else mask

    def from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Logits float (N, H, W) -> masks bool (N, H, W), as from sigmoid probabilities but compared in
        logit space (threshold 0.5: logit > 0), so no probability is rounded onto the threshold."""
        mask = np.asarray(logits) > np.log(self.threshold / (1.0 - self.threshold))
        return np.stack([clean_mask(m) for m in mask]) if self.clean and len(mask) else mask

    def describe(self) -> str:
        cleaning = ", largest connected component, holes filled" if self.clean else " (no post-processing)"
        return f"probability >= {self.threshold:g}{cleaning}"

    def as_metadata(self) -> dict:
        """{"threshold", "clean"}: how the rule is recorded in a weights file's metadata."""
        return {"threshold": self.threshold, "clean": self.clean}

    @classmethod
    def from_metadata(cls, recorded: dict | None, threshold: float | None = None,
                      clean: bool | None = None) -> MaskRule:
        """The rule a weights file recorded (`as_metadata`; the default rule when it recorded none), with
        `threshold` and `clean` overriding it where given."""
        recorded = recorded or {}
        return cls(float(threshold if threshold is not None else recorded.get("threshold", THRESHOLD)),
                   bool(clean if clean is not None else recorded.get("clean", False)))


def frame_dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame Dice of two bool mask stacks (T, H, W), frames empty in both counting as 1 (as the
    evaluation's MONAI Dice with ignore_empty=False); for comparing two engines' or precisions' masks."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError(f"mask stacks differ in shape: {a.shape} vs {b.shape}")
    total = (a.sum(axis=(1, 2)) + b.sum(axis=(1, 2))).astype(np.float64)
    overlap = (a & b).sum(axis=(1, 2)).astype(np.float64)
    return np.where(total == 0, 1.0, 2.0 * overlap / np.maximum(total, 1.0))
