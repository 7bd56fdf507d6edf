"""Optical flow for the flow-based competitors: a small FlowNet, bilinear warping, and the
unsupervised photometric and smoothness losses that train flow without flow labels.

Conventions. A flow field is (B, 2, h, w) in pixels of its own grid, channel 0 = dx, 1 = dy. It is a
*backward* map: `warp(source, flow)(p) = source(p + flow(p))`, so the flow that brings a key frame's
features to the current frame lives on the current frame's grid (as in DFF, Zhu et al. 2017,
eq. 1-2: bilinear interpolation of the key-frame feature map at p + delta p).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import scaled

FLOWNET_CHANNELS = (32, 64, 128, 256)
_CHARBONNIER_EPS = 1e-3


def warp(source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear backward warp: out[..., y, x] = source at (x + flow_x, y + flow_y); border replicated.

    source (B, C, h, w), flow (B, 2, h, w) in pixels -> (B, C, h, w).
    """
    if source.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"flow grid {tuple(flow.shape[-2:])} differs from the source's {tuple(source.shape[-2:])}")
    b, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(source, grid.to(source.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resample a flow field to `size` (h, w), scaling its vectors to the new grid."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=True)
    scale = torch.tensor([(size[1] - 1) / max(w - 1, 1), (size[0] - 1) / max(h - 1, 1)],
                         device=flow.device, dtype=flow.dtype)
    return out * scale.view(1, 2, 1, 1)


def charbonnier(x: torch.Tensor) -> torch.Tensor:
    """Mean robust penalty sqrt(x^2 + eps^2) (photometric error of unsupervised flow)."""
    return torch.sqrt(x.float() ** 2 + _CHARBONNIER_EPS ** 2).mean()


def photometric_loss(target: torch.Tensor, source: torch.Tensor, flow: torch.Tensor, robust: bool = True) -> torch.Tensor:
    """Brightness constancy: `target` vs `source` warped by `flow` (resized to the images' grid).

    robust: Charbonnier penalty (default); False: mean squared error (Qin et al. 2018)."""
    warped = warp(source, resize_flow(flow, tuple(target.shape[-2:])))
    diff = target - warped
    return charbonnier(diff) if robust else diff.float().pow(2).mean()


def flow_gradients(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return flow[..., :, 1:] - flow[..., :, :-1], flow[..., 1:, :] - flow[..., :-1, :]


def smoothness_loss(flow: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean first-order flow smoothness: "l1" (|grad|), "l2" (grad^2), "huber" (Huber, delta 1 px),
    or "second" (squared second differences, a bending-energy-like term). Flow in pixels."""
    if kind == "second":
        dx, dy = flow_gradients(flow)
        ddx, _ = flow_gradients(dx)
        _, ddy = flow_gradients(dy)
        return ddx.float().pow(2).mean() + ddy.float().pow(2).mean()
    dx, dy = flow_gradients(flow)
    if kind == "l1":
        return dx.float().abs().mean() + dy.float().abs().mean()
    if kind == "l2":
        return dx.float().pow(2).mean() + dy.float().pow(2).mean()
    if kind == "huber":
        zero = torch.zeros((), device=flow.device)
        return (F.huber_loss(dx.float(), zero.expand_as(dx), delta=1.0)
                + F.huber_loss(dy.float(), zero.expand_as(dy), delta=1.0))
    raise ValueError(f"unknown smoothness {kind!r}")


class FlowNet(nn.Module):
    """FlowNet-S-style flow network (Dosovitskiy et al. 2015), shortened: the two frames stacked on
    the channel axis, four stride-2 convs (7x7, 5x5, 3x3, 3x3) down to 1/16, two 3x3 convs, and a
    3x3 prediction of the flow (2 channels) plus `extra_channels` more outputs (DFF's scale field).

    (B, 1, H, W) current, (B, 1, H, W) reference -> flow (B, 2, H/16, W/16) mapping current-frame
    positions to reference-frame positions, in pixels of the 1/16 grid; extras (B, extra, H/16, W/16).
    No refinement (upconvolution) stage: the competitors that use it warp 1/16 features.
    The prediction layer starts near zero (flow ~ 0: warping starts as copying).
    """

    def __init__(self, width: float = 1.0, extra_channels: int = 0):
        super().__init__()
        c1, c2, c3, c4 = (scaled(c, width) for c in FLOWNET_CHANNELS)
        self.encoder = nn.Sequential(
            _conv_relu(2, c1, 7, 2), _conv_relu(c1, c2, 5, 2), _conv_relu(c2, c3, 3, 2), _conv_relu(c3, c4, 3, 2),
            _conv_relu(c4, c4, 3, 1), _conv_relu(c4, c4, 3, 1))
        self.extra_channels = extra_channels
        self.predict = nn.Conv2d(c4, 2 + extra_channels, 3, padding=1)
        nn.init.normal_(self.predict.weight, std=1e-3)
        nn.init.zeros_(self.predict.bias)

    def forward(self, current: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.predict(self.encoder(torch.cat([current, reference], dim=1)))
        return out[:, :2], out[:, 2:]


def _conv_relu(cin: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
    # FlowNet uses leaky ReLU and no normalisation.
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2),
                         nn.LeakyReLU(0.1, inplace=True))
