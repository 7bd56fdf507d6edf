"""`echonet_deeplabv3`: the segmentation network of EchoNet-Dynamic (Ouyang et al., Nature 2020,
Methods "Segmentation"; github echonet/dynamic, `echonet/utils/segmentation.py`): torchvision's
`deeplabv3_resnet50(aux_loss=False)` (Chen et al. 2017, "Rethinking atrous convolution", sections
3.2-3.3) with its classifier's last layer replaced by a 1-channel 1x1 convolution. EchoNet reports
Dice about 0.92 on EchoNet-Dynamic's test set, the public anchor for this dataset.

    features = ResNet-50 (v1.5), stages 3 and 4 dilated (output stride 8)      (B, 2048, H/8, W/8)
    context  = ASPP: 1x1, three 3x3 atrous (rates 12, 24, 36), image pooling -> concat -> 1x1 (256)
    logits   = 3x3 conv (256) -> BN -> ReLU -> 1x1 conv (1) -> bilinear upsampling to (H, W)

Written here module for module with torchvision's names and shapes (backbone.conv1 ...
backbone.layer4.2.bn3, classifier.0.convs.0-4, classifier.0.project, classifier.1-4), so the state
dict EchoNet-Dynamic publishes loads as it is (`echoseg import-weights echonet-dynamic`). Not built
from torchvision: its wheels are tied to one torch build (the one installable next to our CPU torch
2.13 is CUDA-linked and fails at import), so depending on it would break installs that bring their
own torch; tests/test_echonet_weights.py checks the logits against torchvision's own model where it
can be imported.

Input: like EchoNet, 3 channels in 0-255 normalised by a per-channel mean and standard deviation,
here buffers the model carries (saved in its weights file): a grayscale frame in [0, 1] is scaled to
0-255 and repeated over the 3 channels. Defaults: measured on real EchoNet-Dynamic video (docs/
echonet_weights.md says how). Single frame (k = 1). Random initialisation (EchoNet trained from
scratch too: `pretrained=False`).

Training with a batch of one: the ASPP image-pooling branch applies BatchNorm to a 1x1 map, which
train-mode BatchNorm refuses for a single sample; that branch then normalises with its running
statistics for that step (the others still update theirs).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet
from echoseg.models.registry import register_model

ASPP_RATES = (12, 24, 36)
# Per-channel (R, G, B) mean and std of EchoNet-Dynamic video in 0-255, measured as EchoNet's
# `echonet.utils.get_mean_and_std` does, on all 203 real videos of ../shared/realdata
# (`python -m benchmarks.echonet_mean_std`; docs/echonet_weights.md).
ECHONET_MEAN = (32.989, 32.998, 33.113)
ECHONET_STD = (49.583, 49.582, 49.694)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 conv), same attribute names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class DilatedResNet50(nn.Module):
    """torchvision's resnet50(replace_stride_with_dilation=[False, True, True]) up to layer4 (no pool/fc)."""

    def __init__(self):
        super().__init__()
        self.inplanes, self.dilation = 64, 1
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2, dilate=True)
        self.layer4 = self._make_layer(512, 3, stride=2, dilate=True)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:  # as torchvision: the stride becomes dilation; the first block keeps the previous one
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride,
                                                 bias=False), nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, previous_dilation)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, dilation=self.dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=dilation if kernel == 3 else 0, dilation=dilation,
                                   bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ASPPPooling(nn.Sequential):
    """Image pooling branch: global average -> 1x1 conv -> BN -> ReLU -> upsampled to the map."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        norm = self[2]
        single = self.training and x.shape[0] == 1 and isinstance(norm, nn.BatchNorm2d)
        if single:  # train-mode BatchNorm cannot normalise one value per channel (module doc)
            norm.eval()
        try:
            for module in self:
                x = module(x)
        finally:
            if single:
                norm.train()
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    def __init__(self, cin: int, rates: tuple[int, ...] = ASPP_RATES, cout: int = 256):
        super().__init__()
        branches = [_conv_bn_relu(cin, cout)] + [_conv_bn_relu(cin, cout, 3, r) for r in rates]
        self.convs = nn.ModuleList(branches + [ASPPPooling(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(len(self.convs) * cout, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


@register_model("echonet_deeplabv3", family="competitor")
class EchoNetDeepLabV3(BaselineNet):
    """(B, 1, H, W) frames in [0, 1] -> logits (B, 1, H, W); see the module doc."""

    min_window = max_window = 1
    fixed_size = True  # one architecture (EchoNet's), no width multiplier: `compare` passes it none

    def __init__(self, *, width: float = 1.0, window: int = 1):
        super().__init__(window)
        if width != 1.0:
            raise ValueError(f"echonet_deeplabv3 is EchoNet-Dynamic's network at its one size: width must be 1.0, "
                             f"got {width}")
        self.backbone = DilatedResNet50()
        self.classifier = nn.Sequential(ASPP(2048), nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                        nn.ReLU(), nn.Conv2d(256, 1, 1))
        self.register_buffer("pixel_mean", torch.tensor(ECHONET_MEAN))
        self.register_buffer("pixel_std", torch.tensor(ECHONET_STD))

    def normalized_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1] -> (B, 3, H, W) as EchoNet feeds its network: 0-255, per-channel normalised."""
        rgb = (x * 255.0).expand(-1, 3, -1, -1)
        return (rgb - self.pixel_mean.view(1, 3, 1, 1)) / self.pixel_std.view(1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        rgb = self.normalized_rgb(x)
        logits = self.classifier(self.backbone(rgb))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
