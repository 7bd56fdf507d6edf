"""ResNet-18-style encoder of one grayscale frame, as in SSCF's temporal context-aware encoders.

The stem is a 1-channel 7x7 stride-2 conv and there is no max-pool, so the four stages sit at
H/2, H/4, H/8 and H/16 with 64, 128, 256 and 512 channels (times `width`). Decoders and fusion
modules are built from `out_channels`, never from hard-coded numbers.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.blocks import BasicBlock, ConvBNReLU

BASE_CHANNELS = (64, 128, 256, 512)


def scaled_channels(width: float) -> tuple[int, ...]:
    """Stage channel counts for a width multiplier: width 1.0 -> (64, 128, 256, 512)."""
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    return tuple(max(1, int(round(c * width))) for c in BASE_CHANNELS)


class ResNetEncoder(nn.Module):
    """(B, in_channels, H, W) -> [(B, c1, H/2, W/2), (B, c2, H/4, W/4), (B, c3, H/8, W/8), (B, c4, H/16, W/16)].

    Two basic blocks per stage (ResNet-18). The stem's output is stage 1's input; stage 1 keeps
    its resolution, stages 2-4 halve it.
    """

    def __init__(self, width: float = 1.0, in_channels: int = 1, blocks_per_stage: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        self.out_channels = scaled_channels(width)
        c1 = self.out_channels[0]
        self.stem = ConvBNReLU(in_channels, c1, kernel_size=7, stride=2)
        stages = []
        cin = c1
        for i, (cout, n_blocks) in enumerate(zip(self.out_channels, blocks_per_stage, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(cin, cout, stride)] + [BasicBlock(cout, cout) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
