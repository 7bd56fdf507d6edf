"""Decoders from the four encoder stages (H/2 .. H/16) back to full resolution.

Both take `features` [(B, c1, H/2, W/2), ..., (B, c4, H/16, W/16)] and return (B, out_channels, H, W);
`head_kernel_size` is the size of the 1-channel output conv the network puts after them.

- `LinkNetDecoder`: the released SSCF network's decoder blocks. Each block is 1x1 (C -> C/4), 3x3
  stride-2 transposed conv, 1x1 (C/4 -> C_skip), each with BatchNorm and ReLU; the skip is ADDED.
  Cheap: most FLOPs stay in the encoders. The tail after the last block (H/2 -> H) is ours by
  default: the block keeps C1 channels, then a 3x3 ConvBNReLU to C1/2 and a 1x1 head. With
  `release=True` it is the release's exactly: convs with bias, the last block halves the channels,
  then a 3x3 conv with bias and ReLU (no BatchNorm) and a 3x3 head. In a 60-step supervised check
  on synthetic data (CPU preset, lr 1e-3) the release's tail had not left the all-background
  solution (validation Dice 0.00) while ours had (0.86 at step 50 in the same setting), so ours
  stays the default.
- `UNetDecoder`: the paper text's U-Net decoder. 2x2 stride-2 transposed conv, CONCATENATE the skip,
  two 3x3 ConvBNReLU; a 1x1 head.
The stem halves the resolution and has no skip of its own, so both end with one more upsampling
stage from H/2 to H.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.blocks import ConvBNReLU, TwoConv

DECODERS = ("linknet", "unet")


def _bn_relu_after(conv: nn.Module, channels: int) -> nn.Sequential:
    """conv -> BatchNorm -> ReLU as a Sequential (BatchNorm folding finds the pair)."""
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class LinkNetUpBlock(nn.Module):
    """(B, cin, h, w) -> (B, cout, 2h, 2w): 1x1 -> transposed 3x3 stride 2 -> 1x1, each with BN+ReLU.

    bias: the convs carry a bias before their BatchNorm, as in the release (no effect on the function).
    """

    def __init__(self, cin: int, cout: int, bias: bool = False):
        super().__init__()
        mid = max(1, cin // 4)
        self.reduce = _bn_relu_after(nn.Conv2d(cin, mid, 1, bias=bias), mid)
        self.up = _bn_relu_after(nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=bias),
                                 mid)
        self.expand = _bn_relu_after(nn.Conv2d(mid, cout, 1, bias=bias), cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.up(self.reduce(x)))


class LinkNetDecoder(nn.Module):
    def __init__(self, encoder_channels: tuple[int, ...], release: bool = False):
        super().__init__()
        c1, c2, c3, c4 = encoder_channels
        self.out_channels = max(1, c1 // 2)
        last = self.out_channels if release else c1
        self.blocks = nn.ModuleList([LinkNetUpBlock(c4, c3, release), LinkNetUpBlock(c3, c2, release),
                                     LinkNetUpBlock(c2, c1, release), LinkNetUpBlock(c1, last, release)])
        if release:  # finalconv2 + finalrelu2; the network's head is finalconv3 (3x3)
            self.final = nn.Sequential(nn.Conv2d(last, self.out_channels, 3, padding=1), nn.ReLU(inplace=True))
        else:
            self.final = ConvBNReLU(last, self.out_channels)
        self.head_kernel_size = 3 if release else 1

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = features[:3][::-1]  # H/8, H/4, H/2
        x = features[3]
        for block, skip in zip(self.blocks[:3], skips, strict=True):
            x = block(x) + skip
        return self.final(self.blocks[3](x))


class UNetUpBlock(nn.Module):
    """(B, cin, h, w), skip (B, cskip, 2h, 2w) -> (B, cout, 2h, 2w)."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, max(1, cin // 2), 2, stride=2)
        self.conv = TwoConv(max(1, cin // 2) + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class UNetDecoder(nn.Module):
    head_kernel_size = 1

    def __init__(self, encoder_channels: tuple[int, ...]):
        super().__init__()
        c1, c2, c3, c4 = encoder_channels
        self.out_channels = max(1, c1 // 2)
        self.blocks = nn.ModuleList([UNetUpBlock(c4, c3, c3), UNetUpBlock(c3, c2, c2), UNetUpBlock(c2, c1, c1),
                                     UNetUpBlock(c1, 0, self.out_channels)])

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = features[:3][::-1]
        x = features[3]
        for block, skip in zip(self.blocks[:3], skips, strict=True):
            x = block(x, skip)
        return self.blocks[3](x)


def build_decoder(name: str, encoder_channels: tuple[int, ...], release: bool = False) -> nn.Module:
    """`release`: the released network's LinkNet tail (LinkNetDecoder); only with "linknet"."""
    if release and name != "linknet":
        raise ValueError(f"the released network's decoder is linknet, not {name!r}")
    if name == "linknet":
        return LinkNetDecoder(encoder_channels, release)
    if name == "unet":
        return UNetDecoder(encoder_channels)
    raise ValueError(f"unknown decoder {name!r}; valid: {list(DECODERS)}")
