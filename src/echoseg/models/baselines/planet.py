"""`planet`: PLANet (Liu et al., Medical Image Analysis 2021, "Deep Pyramid Local Attention Neural
Network for Cardiac Structure Segmentation in Two-Dimensional Echocardiography", sections 3.2-3.3).

The paper's two mechanisms:
- pyramid local attention (PLA): each position aggregates the features of its 3x3 neighbourhood,
  weighted by query-key attention, over a pyramid of neighbourhoods from compact (dilation 1) to
  sparse (dilations 2, 4); the levels are concatenated, projected by a 1x1 conv and added back;
- label coherence learning: an auxiliary head predicts, for every pixel and each of its 8
  neighbours at distance d, whether the two pixels carry the same label, supervised with BCE from
  the ground-truth mask, which pushes neighbouring predictions to agree.

    features = ResNet-18-style encoder (H/2 .. H/16)
    stages 3, 4 (H/8, H/16) -> PLA;  U-Net decoder -> (c, H, W)
    logits   = 1x1 conv;  coherence = 1x1 conv -> 8 logits (training only)
    training: + coherence_weight * BCE(coherence, same-label maps of the labelled windows)

Single frame (k = 1). The module structure comes from the paper's abstract and method description
as we read them; the exact backbone and head sizes are our choices (listed in the README):
ResNet-18-style encoder and U-Net decoder, PLA on the two coarsest stages, coherence distance 1,
weight 0.5; random initialisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet
from echoseg.models.decoders import UNetDecoder
from echoseg.models.encoders import ResNetEncoder
from echoseg.models.registry import register_model

PYRAMID_DILATIONS = (1, 2, 4)
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))  # (dy, dx)


def local_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, dilation: int) -> torch.Tensor:
    """Attention of every position over its 3x3 neighbourhood at `dilation` (zero padding outside).
    query, key (B, d, h, w), value (B, c, h, w) -> (B, c, h, w)."""
    b, d, h, w = query.shape
    keys = F.unfold(key, 3, dilation=dilation, padding=dilation).view(b, d, 9, h, w)
    values = F.unfold(value, 3, dilation=dilation, padding=dilation).view(b, value.shape[1], 9, h, w)
    weights = torch.softmax((query.unsqueeze(2) * keys).sum(1) / math.sqrt(d), dim=1)  # (B, 9, h, w)
    return (values * weights.unsqueeze(1)).sum(2)


class PyramidLocalAttention(nn.Module):
    """x + 1x1 conv(cat[local attention at each dilation]). (B, c, h, w) -> (B, c, h, w)."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = PYRAMID_DILATIONS):
        super().__init__()
        self.dilations = dilations
        d = max(1, channels // 8)
        self.query = nn.Conv2d(channels, d, 1)
        self.key = nn.Conv2d(channels, d, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.project = nn.Sequential(nn.Conv2d(channels * len(dilations), channels, 1, bias=False),
                                     nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.query(x), self.key(x), self.value(x)
        levels = [local_attention(q, k, v, dilation) for dilation in self.dilations]
        return x + self.project(torch.cat(levels, dim=1))


def same_label_maps(mask: torch.Tensor, distance: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of the 8 neighbours at `distance`: does it carry the pixel's label? mask (B, 1, H, W)
    -> (same (B, 8, H, W) float, valid (B, 8, H, W) float: the neighbour lies inside the image)."""
    b, _, h, w = mask.shape
    padded = F.pad(mask.float(), (distance,) * 4, value=-1.0)
    same, valid = [], []
    for dy, dx in NEIGHBOURS:
        y0, x0 = distance + dy * distance, distance + dx * distance
        neighbour = padded[:, :, y0:y0 + h, x0:x0 + w]
        same.append((neighbour == mask.float()).float())
        valid.append((neighbour >= 0).float())
    return torch.cat(same, dim=1), torch.cat(valid, dim=1)


@register_model("planet", family="competitor")
class PLANet(BaselineNet):
    min_window = max_window = 1

    def __init__(self, *, width: float = 1.0, window: int = 1, coherence_weight: float = 0.5,
                 coherence_distance: int = 1):
        super().__init__(window)
        self.coherence_weight, self.coherence_distance = float(coherence_weight), int(coherence_distance)
        self.encoder = ResNetEncoder(width)
        channels = self.encoder.out_channels
        self.attention = nn.ModuleList([PyramidLocalAttention(channels[2]), PyramidLocalAttention(channels[3])])
        self.decoder = UNetDecoder(channels)
        self.head = nn.Conv2d(self.decoder.out_channels, 1, 1)
        self.coherence = nn.Conv2d(self.decoder.out_channels, len(NEIGHBOURS), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (frame,) = self.window_frames(x)
        f1, f2, f3, f4 = self.encoder(frame)
        y = self.decoder([f1, f2, self.attention[0](f3), self.attention[1](f4)])
        if self.training and torch.is_grad_enabled():
            self.stash_auxiliary(coherence=self.coherence(y))
        return self.head(y)

    def compute_auxiliary_losses(self, stash, target, n_labeled) -> dict[str, torch.Tensor]:
        if target is None or n_labeled == 0 or self.coherence_weight <= 0:
            return {}
        same, valid = same_label_maps(target[:n_labeled], self.coherence_distance)
        bce = F.binary_cross_entropy_with_logits(stash["coherence"][:n_labeled].float(), same, weight=valid,
                                                 reduction="sum") / valid.sum().clamp_min(1.0)
        return {"coherence": self.coherence_weight * bce}
