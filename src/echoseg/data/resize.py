"""Resizing frames to the model's input size and predictions back to the video's size."""

from __future__ import annotations

import cv2
import numpy as np


def resize_video(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (T, H, W) -> uint8 (T, size[0], size[1]); area interpolation when shrinking."""
    out_h, out_w = size
    t, h, w = video.shape
    if (h, w) == (out_h, out_w):
        return video
    interp = cv2.INTER_AREA if out_h * out_w < h * w else cv2.INTER_LINEAR
    return np.stack([cv2.resize(frame, (out_w, out_h), interpolation=interp) for frame in video])


def resize_probs(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float (T, h, w) probabilities -> float32 (T, size[0], size[1]), bilinear."""
    out_h, out_w = size
    if probs.shape[1:] == (out_h, out_w):
        return probs.astype(np.float32, copy=False)
    return np.stack(
        [cv2.resize(p.astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_LINEAR) for p in probs]
    )


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool (H, W) -> bool (size), nearest neighbour (keeps it binary)."""
    out_h, out_w = size
    if mask.shape == (out_h, out_w):
        return mask
    return cv2.resize(mask.astype(np.uint8), (out_w, out_h), interpolation=cv2.INTER_NEAREST).astype(bool)
