"""`tdnet`: Temporally Distributed Network (Hu et al., CVPR 2020, "Temporally Distributed Networks
for Fast Video Semantic Segmentation", section 3).

Instead of one deep network per frame, n shallow sub-networks are distributed over n consecutive
frames, each extracting a group of sub-features; the attention propagation module (APM) carries the
older frames' sub-features to the current frame and merges them, recomposing a full feature:

    frames t-n+1 .. t, frame j through sub-network j:  z_j = N_j(frame_j)   ResNet-18-style, 1/16
    Q_j, K_j = 1x1 convs (64 x width channels), V_j = 1x1 conv (c channels) of z_j
    v = V_{t-n+1}
    for j = t-n+2 .. t:  v = Attn(K_{j-1}, v, Q_j) (+ V_j unless j = t)     progressive propagation
    logits = FCN head(LayerNorm(v + V_t)) -> bilinear upsampling x16
    Attn(K, V, Q)[p] = sum_q softmax_q(Q[p] . K[q] / sqrt(d)) V[q]          over all positions q

How it reads a video: online; with window k it uses n = k // 2 + 1 frames t-r .. t (default k = 7:
TDNet-4, the paper's TD4 setting with four sub-networks); frames after t are unused.

Simplifications (also in the README):
- sub-network j always sees window position j (the paper assigns sub-networks round-robin by
  t mod n, so the same frame meets a different sub-network in each window: the set of frames and
  sub-networks per window is the same, the pairing is a cyclic shift); in whole-video inference each
  frame therefore goes through all n sub-networks, so there is no per-frame saving;
- sub-networks are ResNet-18-style encoders at output stride 16 without the PSP head (the paper:
  dilated ResNet-18 + PSP at output stride 8); trained from scratch;
- the grouped knowledge-distillation loss (it needs a trained full-depth teacher) is omitted;
- LayerNorm over (c, h, w) of each sample (GroupNorm with one group), size-independent.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.blocks import ConvBNReLU
from echoseg.models.encoders import ResNetEncoder
from echoseg.models.registry import register_model


class Encoding(nn.Module):
    """Sub-features -> query, key (d channels each) and value (c channels), 1x1 convs. The oldest
    frame needs no query and the current frame no key (they are only used by later windows in the
    paper's online form), so those are not built: every parameter is used."""

    def __init__(self, channels: int, key_channels: int, query: bool = True, key: bool = True):
        super().__init__()
        self.query = nn.Conv2d(channels, key_channels, 1) if query else None
        self.key = nn.Conv2d(channels, key_channels, 1) if key else None
        self.value = nn.Conv2d(channels, channels, 1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        return (self.query(z) if self.query is not None else None, self.key(z) if self.key is not None else None,
                self.value(z))


def attention_propagate(keys: torch.Tensor, values: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Values of a previous frame carried to the current one: keys (B, d, h, w) and values (B, c, h, w)
    of the previous frame, queries (B, d, h, w) of the current -> (B, c, h, w)."""
    b, d, h, w = queries.shape
    q = queries.flatten(2).transpose(1, 2)  # (B, hw, d)
    k = keys.flatten(2)  # (B, d, hw)
    attn = torch.softmax(torch.bmm(q, k) / math.sqrt(d), dim=-1)  # (B, hw_cur, hw_prev)
    out = torch.bmm(values.flatten(2), attn.transpose(1, 2))  # (B, c, hw_cur)
    return out.view(b, values.shape[1], h, w)


@register_model("tdnet", family="competitor")
class TDNet(BaselineNet):
    min_window = 3

    def __init__(self, *, width: float = 1.0, window: int = 7):
        super().__init__(window)
        self.n_paths = window // 2 + 1
        self.subnets = nn.ModuleList(ResNetEncoder(width) for _ in range(self.n_paths))
        channels = self.subnets[0].out_channels[-1]
        last = self.n_paths - 1
        self.encodings = nn.ModuleList(Encoding(channels, scaled(64, width), query=j > 0, key=j < last)
                                       for j in range(self.n_paths))
        self.norm = nn.GroupNorm(1, channels)
        mid = max(1, channels // 4)
        self.head = nn.Sequential(ConvBNReLU(channels, mid), nn.Dropout2d(0.1), nn.Conv2d(mid, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.window_frames(x)[: self.n_paths]  # t-n+1 .. t
        encoded = [enc(net(f)[-1]) for f, net, enc in zip(frames, self.subnets, self.encodings, strict=True)]
        _, key, propagated = encoded[0]
        for j in range(1, self.n_paths):
            query, next_key, value = encoded[j]
            propagated = attention_propagate(key, propagated, query)
            if j < self.n_paths - 1:
                propagated = propagated + value
            key = next_key
        merged = self.norm(propagated + encoded[-1][2])
        return F.interpolate(self.head(merged), size=x.shape[-2:], mode="bilinear", align_corners=False)
