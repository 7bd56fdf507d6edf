"""Shared pieces of the inference tests: a tiny model that follows the model contract, a reference
sliding-window predictor, and synthetic beating-ellipse videos with known ED/ES frames.

The tiny model segments dark blobs (the LV cavity is dark blood), so predictions on the synthetic
videos are meaningful without training; a small learned part reads the neighbour frames and builds
one convolution kernel per sample from the features, like SSCF's calibration, so exports and the
streaming path see the same kind of graph as the real network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.contract import SegmentationModel

TINY_MODEL_NAME = "tiny_dark_test_net"


class TinyDarkNet(SegmentationModel):
    """(B, k, H, W) in [0, 1] -> logits (B, 1, H, W): dark (blood) pixels of the centre frame are LV."""

    def __init__(self, window: int = 3, width: int = 4):
        super().__init__()
        self.window = window
        self.features = nn.Conv2d(window, width, 3, padding=1)
        self.kernel_basis = nn.Parameter(torch.randn(width, width * 9) * 0.1)
        self.head = nn.Conv2d(width, 1, 1)
        self.gain = nn.Parameter(torch.tensor(14.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k, h, w = x.shape
        if h % 16 or w % 16 or k != self.window:
            raise ValueError(f"input (B, {self.window}, H, W) with H, W multiples of 16 expected, got {tuple(x.shape)}")
        centre = x[:, k // 2: k // 2 + 1]
        darkness = self.gain * (0.4 - F.avg_pool2d(centre, 5, stride=1, padding=2))
        f = torch.relu(self.features(x))
        c = f.shape[1]
        # Per-sample kernel (B*C, C, 3, 3) from pooled features, applied as a grouped convolution.
        a = torch.sigmoid(F.adaptive_max_pool2d(f, 1).flatten(1))
        kernel = ((a[:, :, None] * a[:, None, :]) @ self.kernel_basis).reshape(b * c, c, 3, 3)
        calibrated = F.conv2d(f.reshape(1, b * c, h, w), kernel, padding=1, groups=b).reshape(b, c, h, w)
        return darkness + 0.5 * self.head(calibrated)


def reference_probs(model: nn.Module, video: np.ndarray, *, batch_size: int = 16, device=None,
                    autocast_dtype=None, channels_last: bool = False) -> np.ndarray:
    """Plain sliding-window prediction with edge replication: uint8 (T, H, W) -> float32 probs (T, H, W)."""
    k = model.window
    t = len(video)
    frames = torch.from_numpy(video).float() / 255.0
    idx = torch.arange(t)[:, None] + torch.arange(-(k // 2), k - k // 2)[None, :]
    windows = frames[idx.clamp(0, t - 1)]
    out = []
    with torch.inference_mode():
        for i in range(0, t, batch_size):
            out.append(torch.sigmoid(model(windows[i:i + batch_size]).float())[:, 0])
    return torch.cat(out).numpy()


def register_tiny_model() -> None:
    from echoseg.models import registry

    if TINY_MODEL_NAME not in registry._MODELS:
        registry.register_model(TINY_MODEL_NAME)(TinyDarkNet)


def beating_video(frames: int = 60, size: tuple[int, int] = (64, 64), period: float = 20.0, phase: float = 5.0,
                  seed: int = 0, noise: float = 20.0) -> tuple[np.ndarray, list[int], list[int], np.ndarray]:
    """A dark ellipse whose size oscillates (cos): (video uint8 (T, H, W), ed frames, es frames, true masks).

    ED (largest) at phase + n * period, ES (smallest) half a period later; interior frames only.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    t = np.arange(frames)
    scale = 1.0 + 0.22 * np.cos(2 * np.pi * (t - phase) / period)
    masks = np.stack([((yy - h * 0.5) / (h * 0.3 * s)) ** 2 + ((xx - w * 0.5) / (w * 0.17 * s)) ** 2 <= 1
                      for s in scale])
    video = rng.normal(150, noise, (frames, h, w))
    video[masks] = rng.normal(25, 8, int(masks.sum()))
    video = np.clip(video, 0, 255).astype(np.uint8)
    ed = [int(round(phase + n * period)) for n in range(-2, frames) if 0 < phase + n * period < frames - 1]
    es = [int(round(phase + (n + 0.5) * period)) for n in range(-2, frames)
          if 0 < phase + (n + 0.5) * period < frames - 1]
    return video, ed, es, masks


@pytest.fixture
def one_torch_thread():
    """Run a test with one intra-op thread: on a shared, loaded 2-core machine OpenMP's second thread
    makes small convolutions 10-20x slower (spin-waiting on a busy core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
