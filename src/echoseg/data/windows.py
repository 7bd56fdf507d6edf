"""Frame windows: the k frames around a centre frame that a temporal model reads.

The window centred on frame t holds frames t - k//2 .. t - k//2 + k - 1, indices clamped to the video
(the first and last frames repeat at the ends). Training, adaptation and every inference engine take
their windows through this one rule, so a model sees at its edges what it was trained on. The torch
twin for tensors already on a device is `echoseg.models.video.window_indices`.
"""

from __future__ import annotations

import numpy as np


def window_indices(n_frames: int, window: int, centres) -> np.ndarray:
    """int (len(centres), window) frame indices of the windows centred on `centres`, edge-replicated."""
    offsets = np.arange(window) - window // 2
    return np.clip(np.asarray(centres, dtype=np.int64)[:, None] + offsets[None, :], 0, n_frames - 1)


def frame_window(frames: np.ndarray, centre: int, window: int) -> np.ndarray:
    """(window, ...) the frames of the window centred on frame `centre` of `frames`."""
    return frames[window_indices(len(frames), window, [centre])[0]]
