"""`mfp_net`: MFP-Unet (Moradi et al., Physica Medica 2019, "MFP-Unet: A novel deep learning based
approach for left ventricle segmentation in echocardiography", section 2).

A U-Net (four 2x2 max-pool levels, two 3x3 convs per level, 64 .. 1024 channels) whose decoder
levels all contribute to the prediction through a multi-level feature pyramid: the output of every
decoder level passes a 3x3 conv, is upsampled to full resolution, and the maps are concatenated
before the final convolutions (instead of predicting from the last level only).

    e_1..e_5  = U-Net encoder (H .. H/16)
    d_4..d_1  = U-Net decoder levels (H/8 .. H)
    logits    = 1x1 conv(3x3 conv(cat[up(3x3 conv(d_l)) for l = 4..1]))

Single frame (k = 1). Simplifications (also in the README): BatchNorm after every conv (the paper's
U-Net has none), pyramid branches of 32 x width channels; random initialisation.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.blocks import ConvBNReLU, TwoConv
from echoseg.models.decoders import UNetUpBlock
from echoseg.models.registry import register_model

UNET_CHANNELS = (64, 128, 256, 512, 1024)


@register_model("mfp_net", family="competitor")
class MFPUnet(BaselineNet):
    min_window = max_window = 1

    def __init__(self, *, width: float = 1.0, window: int = 1):
        super().__init__(window)
        channels = [scaled(c, width) for c in UNET_CHANNELS]
        self.down = nn.ModuleList(TwoConv(cin, cout) for cin, cout in zip([1] + channels[:-1], channels, strict=True))
        self.up = nn.ModuleList(UNetUpBlock(channels[i + 1], channels[i], channels[i])
                                for i in (3, 2, 1, 0))
        pyramid = scaled(32, width)
        self.pyramid = nn.ModuleList(ConvBNReLU(channels[i], pyramid) for i in (3, 2, 1, 0))
        self.fuse = nn.Sequential(ConvBNReLU(4 * pyramid, pyramid), nn.Conv2d(pyramid, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (frame,) = self.window_frames(x)
        skips = []
        y = frame
        for i, block in enumerate(self.down):
            y = block(y if i == 0 else F.max_pool2d(y, 2))
            skips.append(y)
        y = skips.pop()
        levels = []
        for block, branch in zip(self.up, self.pyramid, strict=True):
            y = block(y, skips.pop())
            levels.append(F.interpolate(branch(y), size=frame.shape[-2:], mode="bilinear", align_corners=False))
        return self.fuse(torch.cat(levels, dim=1))
