"""`echonet_deeplabv3`: the segmentation network of EchoNet-Dynamic (Ouyang et al., Nature 2020,
Methods "Segmentation"; github echonet/dynamic, `echonet/utils/segmentation.py`), which is
torchvision's DeepLabV3-ResNet-50 (Chen et al. 2017, "Rethinking atrous convolution", sections 3.2-3.3)
with its classifier's last layer replaced by a 1-channel one. EchoNet reports Dice about 0.92 on
EchoNet-Dynamic's test set, the public anchor for this dataset.

    features = ResNet-50 with stages 3 and 4 dilated (output stride 8)   (B, 2048, H/8, W/8)
    context  = ASPP: 1x1, three 3x3 atrous (rates 12, 24, 36), image pooling -> concat -> 1x1 (256)
    logits   = 3x3 conv (256) -> 1x1 conv (1) -> bilinear upsampling to (H, W)

Single frame (k = 1). Simplifications (also in the README):
- random initialisation, as every model here (EchoNet trained from scratch too: `pretrained=False`);
- a 1-channel stem: EchoNet feeds the grayscale video as 3 identical-ish RGB channels normalised by
  the dataset mean/std; here the frame is one channel mapped to [-1, 1];
- the ASPP image-pooling branch has no BatchNorm (torchvision's has one, which fails on a batch of
  one in training mode); no auxiliary FCN head (EchoNet uses `aux_loss=False`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.baselines.resnet import ResNet50
from echoseg.models.blocks import ConvBNReLU
from echoseg.models.registry import register_model

ASPP_RATES = (12, 24, 36)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling. (B, cin, h, w) -> (B, cout, h, w)."""

    def __init__(self, cin: int, cout: int, rates: tuple[int, ...] = ASPP_RATES, dropout: float = 0.5):
        super().__init__()
        branches = [ConvBNReLU(cin, cout, kernel_size=1)]
        branches += [nn.Sequential(nn.Conv2d(cin, cout, 3, padding=r, dilation=r, bias=False), nn.BatchNorm2d(cout),
                                   nn.ReLU(inplace=True)) for r in rates]
        self.branches = nn.ModuleList(branches)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(ConvBNReLU(cout * (len(rates) + 2), cout, kernel_size=1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        outs.append(self.image_pool(x).expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(outs, dim=1))


@register_model("echonet_deeplabv3", family="competitor")
class EchoNetDeepLabV3(BaselineNet):
    min_window = max_window = 1

    def __init__(self, *, width: float = 1.0, window: int = 1):
        super().__init__(window)
        self.backbone = ResNet50(width, blocks=(3, 4, 6, 3), dilate=(False, True, True))
        head = scaled(256, width)
        self.aspp = ASPP(self.backbone.out_channels[-1], head)
        self.classifier = nn.Sequential(ConvBNReLU(head, head), nn.Conv2d(head, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (frame,) = self.window_frames(x)
        features = self.backbone(frame)[-1]
        logits = self.classifier(self.aspp(features))
        return F.interpolate(logits, size=frame.shape[-2:], mode="bilinear", align_corners=False)
