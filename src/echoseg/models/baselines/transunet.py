"""`transunet`: TransUNet (Chen et al. 2021, "TransUNet: Transformers Make Strong Encoders for
Medical Image Segmentation", section 3, the R50-ViT-B/16 hybrid).

    skips, z = ResNet-50 stages 1-3 (3, 4, 9 bottlenecks)    skips at H/2 (64), H/4 (256), H/8 (512);
                                                              z (1024, H/16, W/16)
    tokens   = 1x1 patch embedding of z (patch size 1 on the 1/16 grid) + position embedding
    tokens   = 12 pre-norm transformer layers (hidden 768, 12 heads, MLP 3072), final LayerNorm
    x        = 3x3 conv (768 -> 512) of the tokens reshaped to (H/16, W/16)
    x        = cascaded upsampler: 4 x [2x bilinear upsampling, concat skip, two 3x3 convs]
               (256, 128, 64, 16 channels; the last level has no skip)
    logits   = 3x3 conv -> 1 channel

Single frame (k = 1). `width` scales every channel count and the transformer width (hidden =
12 heads x 64 x width). The position embedding is learned on the grid of a 256x256 input (16x16)
and bilinearly resized to other grids.

Simplifications (also in the README): random initialisation (the paper starts from ImageNet-21k
ViT and ImageNet ResNet weights); BatchNorm in the ResNet (the paper: GroupNorm with weight
standardisation); no dropout.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.baselines.resnet import ResNet50
from echoseg.models.blocks import ConvBNReLU, TwoConv
from echoseg.models.registry import register_model

HEADS = 12
DEPTH = 12
BASE_GRID = 16  # 256 / 16
DECODER_CHANNELS = (256, 128, 64, 16)


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens (B, N, D), explicit matmuls (FLOP counters see them)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, n, d))


class TransformerLayer(nn.Module):
    """Pre-norm ViT layer: x + MSA(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UpBlock(nn.Module):
    """2x bilinear upsampling, concatenation with the skip (if any), two 3x3 ConvBNReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = TwoConv(cin + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1) if skip is not None else x)


@register_model("transunet", family="competitor")
class TransUNet(BaselineNet):
    min_window = max_window = 1

    def __init__(self, *, width: float = 1.0, window: int = 1, depth: int = DEPTH):
        super().__init__(window)
        self.cnn = ResNet50(width, blocks=(3, 4, 9))
        hidden = HEADS * scaled(64, width)
        self.embed = nn.Conv2d(self.cnn.out_channels[-1], hidden, 1)
        self.position = nn.Parameter(torch.zeros(1, hidden, BASE_GRID, BASE_GRID))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.layers = nn.ModuleList(TransformerLayer(hidden, HEADS, 4 * hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden)
        decoder = [scaled(c, width) for c in DECODER_CHANNELS]
        self.bridge = ConvBNReLU(hidden, scaled(512, width))
        skips = self.cnn.out_channels[:3][::-1] + (0,)  # H/8, H/4, H/2, none
        cins = (scaled(512, width),) + tuple(decoder[:-1])
        self.up = nn.ModuleList(UpBlock(cin, cs, cout) for cin, cs, cout in zip(cins, skips, decoder, strict=True))
        self.head = nn.Conv2d(decoder[-1], 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (frame,) = self.window_frames(x)
        features = self.cnn(frame)
        z = self.embed(features[-1])
        b, d, h, w = z.shape
        position = self.position if (h, w) == (BASE_GRID, BASE_GRID) else F.interpolate(
            self.position, size=(h, w), mode="bilinear", align_corners=False)
        tokens = (z + position).flatten(2).transpose(1, 2)  # (B, hw, d)
        for layer in self.layers:
            tokens = layer(tokens)
        y = self.bridge(self.norm(tokens).transpose(1, 2).reshape(b, d, h, w))
        skips = features[:3][::-1] + [None]
        for block, skip in zip(self.up, skips, strict=True):
            y = block(y, skip)
        return self.head(y)
