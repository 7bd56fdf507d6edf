"""Fusing the k frames' features of one encoder stage into the centre frame's features.

Both modules take `features`: a list of k tensors (B, C, h, w) in frame order (centre at k // 2)
and return (B, C, h, w).

- `ConcatFusion` (the ablation baseline): cat(all k) -> 1x1 conv -> BatchNorm.
- `BSSF` (paper section 3.3, eq. 4): every neighbour is calibrated to the centre by its own ASSC
  (own Tq, Tk and G per stage and per frame offset), then cat(calibrated..., centre, ...) in frame
  order -> 1x1 conv -> BatchNorm.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.calibration import ASSC


class ConcatFusion(nn.Module):
    """cat(features) -> 1x1 conv (k*C -> C) -> BatchNorm."""

    def __init__(self, channels: int, window: int):
        super().__init__()
        self.window = window
        self.proj = nn.Conv2d(window * channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.bn(self.proj(torch.cat(features, dim=1)))


class BSSF(nn.Module):
    """Bi-directional spatiotemporal semantics fusion over a window of k frames.

    `calibrators[j]` calibrates the j-th neighbour (frame order, centre skipped) to the centre:
    for k = 3, calibrators[0] is the previous frame's ASSC and calibrators[1] the next frame's.
    """

    def __init__(self, channels: int, window: int, dilations: tuple[int, ...] = (1,), kernel: str = "matmul",
                 scale: str = "centred", transform_padding: int = 1):
        super().__init__()
        self.window = window
        self.centre = window // 2
        self.calibrators = nn.ModuleList(
            ASSC(channels, dilations, kernel=kernel, scale=scale, transform_padding=transform_padding)
            for _ in range(window - 1)
        )
        self.proj = nn.Conv2d(window * channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        centre = features[self.centre]
        neighbours = features[:self.centre] + features[self.centre + 1:]
        calibrated = [assc(f, centre) for assc, f in zip(self.calibrators, neighbours, strict=True)]
        ordered = calibrated[:self.centre] + [centre] + calibrated[self.centre:]
        return self.bn(self.proj(torch.cat(ordered, dim=1)))
