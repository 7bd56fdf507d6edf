"""Tiny in-memory data and a tiny model for the training tests (no generator or real model needed)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from echoseg.data.schema import EchoSample
from echoseg.models.contract import SegmentationModel


def ellipse_video(seed: int, frames: int = 12, size: int = 32, split: str = "train") -> EchoSample:
    """A dark ellipse breathing on speckle-like noise; masks on every frame, ED = 0, ES = frames // 2."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3)
    video = np.empty((frames, size, size), np.uint8)
    masks = {}
    for t in range(frames):
        scale = 1.0 - 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * t / frames))
        ry, rx = 0.32 * size * scale, 0.2 * size * scale
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        image = 170 * rng.gamma(4.0, 0.25, (size, size))
        image[inside] *= 0.25
        video[t] = np.clip(image, 0, 255).astype(np.uint8)
        masks[t] = inside
    return EchoSample(video=video, masks=masks, case_id=f"case{seed:03d}", patient_id=f"p{seed:03d}", ed=0,
                      es=frames // 2, split=split, fps=50.0)


def ellipse_dataset(n_train: int = 4, n_val: int = 2, frames: int = 12, size: int = 32) -> list[EchoSample]:
    return ([ellipse_video(i, frames, size, "train") for i in range(n_train)]
            + [ellipse_video(100 + i, frames, size, "val") for i in range(n_val)])


class TinyNet(SegmentationModel):
    """Follows the model contract: `window`, float (B, k, H, W) -> logits (B, 1, H, W)."""

    def __init__(self, window: int = 3, width: int = 8, batchnorm: bool = True):
        super().__init__()
        self.window = window
        norm = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.body = nn.Sequential(nn.Conv2d(window, width, 3, padding=1), norm, nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def tiny_overrides(steps: int = 8, workers: int = 0) -> list[str]:
    return ["data.input_size=[32,32]", "data.batch_labeled=2", "data.batch_unlabeled=2",
            f"data.num_workers={workers}", f"optim.steps={steps}", "optim.lr=0.003", "runtime.val_interval=4",
            "runtime.checkpoint_interval=2", "runtime.log_interval=2", "runtime.device=cpu", "runtime.threads=1",
            "model.name=tiny"]


class DeepTinyNet(SegmentationModel):
    """`depth` conv-BatchNorm-ReLU layers: enough BatchNorm layers for running-statistics errors to compound."""

    def __init__(self, window: int = 3, width: int = 8, depth: int = 6):
        super().__init__()
        self.window = window
        layers: list[nn.Module] = []
        cin = window
        for _ in range(depth):
            layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            cin = width
        self.body = nn.Sequential(*layers, nn.Conv2d(width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
