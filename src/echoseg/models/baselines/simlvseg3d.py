"""`simlvseg3d`: a SimLVSeg-style 3D network (Maani et al. 2023, "SimLVSeg: Simplifying Left
Ventricular Segmentation in 2D+Time Echocardiograms with Self- and Weakly-Supervised Learning",
section 3, the 3D variant): a 3D U-Net segments a whole clip at once and is supervised only on the
clip's traced frames ("weakly supervised": the other frames' outputs get no loss). SimLVSeg reports
Dice 93.32 on EchoNet-Dynamic's test set, the best public number at the time of writing.

    x        = window (B, k, H, W) as a volume (B, 1, k, H, W)
    encoder  = 4 levels of two 3x3x3 ConvBNReLU, 1x2x2 max-pooling between them (time is never pooled)
    decoder  = 1x2x2 transposed conv, concat skip, two 3x3x3 ConvBNReLU per level
    logits   = 1x1x1 conv -> (B, 1, k, H, W); the centre frame's slice is returned

How it reads a video: a clip of k frames (default 9) centred on t; its prediction for t is kept.
In training every window is centred on a traced frame, so supervising the centre slice is exactly
"supervise the traced frames only". Whole-video inference runs one clip per frame; `clip_logits`
gives all k frames' logits of a clip for users who want SimLVSeg's clip-wise inference.

Simplifications (also in the README): random initialisation; the self-supervised temporal-masking
pretraining and the paper's 32-frame clips are left out (k <= 11 here); plain 3D U-Net blocks (the
paper's 3D encoder is a UNet-style network from a public library, its channel counts differ).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.registry import register_model

CHANNELS = (32, 64, 128, 256, 512)


class TwoConv3d(nn.Sequential):
    """Two 3x3x3 conv + BatchNorm3d + ReLU. (B, cin, T, H, W) -> (B, cout, T, H, W)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                         nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class Up3d(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.up = nn.ConvTranspose3d(cin, cskip, (1, 2, 2), stride=(1, 2, 2))
        self.conv = TwoConv3d(2 * cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


@register_model("simlvseg3d", family="competitor")
class SimLVSeg3D(BaselineNet):
    def __init__(self, *, width: float = 1.0, window: int = 9):
        super().__init__(window)
        channels = [scaled(c, width) for c in CHANNELS]
        self.down = nn.ModuleList(TwoConv3d(cin, cout) for cin, cout in zip([1] + channels[:-1], channels, strict=True))
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.up = nn.ModuleList(Up3d(channels[i + 1], channels[i], channels[i]) for i in (3, 2, 1, 0))
        self.head = nn.Conv3d(channels[0], 1, 1)

    def clip_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, k, H, W) in [0, 1] -> logits of every frame (B, k, H, W)."""
        self.check_input_shape(x)
        y = self.normalize_input(x).unsqueeze(1)
        skips = []
        for i, block in enumerate(self.down):
            y = block(y if i == 0 else self.pool(y))
            skips.append(y)
        y = skips.pop()
        for block in self.up:
            y = block(y, skips.pop())
        return self.head(y)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = self.window // 2
        return self.clip_logits(x)[:, centre:centre + 1]
