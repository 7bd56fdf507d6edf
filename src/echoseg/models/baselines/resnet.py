"""ResNet-50 from bottleneck blocks (He et al. 2016), for the competitors built on it: the
DeepLabV3 of EchoNet-Dynamic, TransUNet's hybrid encoder, DFF's and Accel's deep feature networks.

Plain torch, random initialisation (the competitors are trained from scratch here, as SSCF is;
nothing is downloaded). A 1-channel stem because echo frames are grayscale. Stages can trade their
stride for dilation, as DeepLab does, to keep a finer output grid ("output stride").
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.baselines.common import scaled
from echoseg.models.blocks import residual_shortcut

STAGE_CHANNELS = (64, 128, 256, 512)  # bottleneck widths; the stage outputs are 4x these
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride, dilation) -> 1x1 expand (x4), BatchNorm after each, identity or
    projection shortcut. (B, cin, H, W) -> (B, 4 * mid, H / stride, W / stride)."""

    def __init__(self, cin: int, mid: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        cout = mid * EXPANSION
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = residual_shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ResNet50(nn.Module):
    """(B, in_channels, H, W) -> [stem (H/2), stage 1 (H/4), stage 2 (H/8), stage 3, stage 4].

    blocks: bottlenecks per stage, (3, 4, 6, 3) for ResNet-50; fewer stages are allowed
    (TransUNet uses (3, 4, 9)). dilate: per stage after the first, True replaces its stride 2 with
    dilation (DeepLabV3 output stride 8: (False, True, True); output stride 16: (False, False, True)).
    `out_channels` lists the channels of the returned maps (stem first).
    """

    def __init__(self, width: float = 1.0, in_channels: int = 1, blocks: tuple[int, ...] = (3, 4, 6, 3),
                 dilate: tuple[bool, ...] = (False, False, False)):
        super().__init__()
        if len(dilate) < len(blocks) - 1:
            raise ValueError(f"dilate needs one flag per stage after the first ({len(blocks) - 1}), got {dilate}")
        stem = scaled(64, width)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, channels = [], [stem]
        cin, dilation = stem, 1
        for i, n_blocks in enumerate(blocks):
            mid = scaled(STAGE_CHANNELS[i], width)
            stride = 1 if i == 0 else 2
            first_dilation = dilation
            if i > 0 and dilate[i - 1]:
                dilation, stride = dilation * 2, 1
                first_dilation = max(1, dilation // 2)  # torchvision's convention for the first block
            layers = [Bottleneck(cin, mid, stride, first_dilation)]
            layers += [Bottleneck(mid * EXPANSION, mid, 1, dilation) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = mid * EXPANSION
            channels.append(cin)
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = [x]
        x = self.pool(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
