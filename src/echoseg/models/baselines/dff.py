"""`dff`: Deep Feature Flow (Zhu et al., CVPR 2017, "Deep Feature Flow for Video Recognition",
sections 3-4).

The expensive feature network N_feat runs on a key frame only; a small flow network F gives the
flow field M and a scale field S from the current frame to the key frame; the key frame's features
are propagated by bilinear warping and modulated by S (eq. 3: f_i = S_{i->k} . W(f_k, M_{i->k}));
the light task network N_task segments the propagated features.

    key      = frame t-r of the window centred on t (r = k // 2); current = frame t
    f_key    = N_feat(key)                        ResNet-50, output stride 16 (stage 4 dilated)
    M, S     = F(current, key)                    FlowNet-S style, at 1/16 (flow.py)
    f_cur    = S * warp(f_key, M)
    logits   = N_task(f_cur) -> bilinear upsampling x16   (N_task: 3x3 conv, 1x1 conv; DeepLab-style)

How it reads a video: online, key frame = the oldest frame of the window, so with the default k = 3
the key frame is the previous frame; frames after t are not used. Whole-video inference therefore
runs N_feat once per window (our sliding-window harness does not cache key-frame features across
windows), so its ms/frame is not DFF's amortised key-frame cost: it is the cost of one propagation.

Simplifications (also in the README):
- N_feat is ResNet-50 (the paper: ResNet-101), trained from scratch; F is a shortened FlowNet-S
  without refinement stage, trained from scratch (the paper pretrains it on Flying Chairs);
- in place of that pretraining, an unsupervised flow loss is added in training: photometric
  (Charbonnier) error of the key frame warped by M to the current frame plus first-order
  smoothness, weight `flow_weight` (0 turns it off: pure end-to-end training as in the paper);
- the key frame is the window's oldest frame, not a random frame of the previous 10 (training) or
  every 10th frame (inference).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.baselines.flow import FlowNet, photometric_loss, smoothness_loss, warp
from echoseg.models.baselines.resnet import ResNet50
from echoseg.models.blocks import ConvBNReLU
from echoseg.models.registry import register_model


def task_head(cin: int, width: float) -> nn.Sequential:
    """N_task: 3x3 conv (256 x width) + BN + ReLU, then a 1x1 conv to one logit channel."""
    mid = scaled(256, width)
    return nn.Sequential(ConvBNReLU(cin, mid), nn.Conv2d(mid, 1, 1))


def deep_features(width: float) -> ResNet50:
    """ResNet-50 with output stride 16 (stage 4 dilated): the deep network of DFF and Accel."""
    return ResNet50(width, blocks=(3, 4, 6, 3), dilate=(False, False, True))


@register_model("dff", family="competitor")
class DeepFeatureFlow(BaselineNet):
    min_window = 3

    def __init__(self, *, width: float = 1.0, window: int = 3, flow_weight: float = 0.1,
                 smooth_weight: float = 0.1):
        super().__init__(window)
        self.flow_weight, self.smooth_weight = float(flow_weight), float(smooth_weight)
        self.feature_net = deep_features(width)
        channels = self.feature_net.out_channels[-1]
        self.flow_net = FlowNet(width, extra_channels=channels)
        self.task = task_head(channels, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.window_frames(x)
        key, current = frames[0], frames[self.window // 2]
        f_key = self.feature_net(key)[-1]
        flow, scale = self.flow_net(current, key)
        f_cur = (1.0 + scale) * warp(f_key, flow)  # S starts near 1: the prediction layer starts near 0
        self.stash_auxiliary(current=current, key=key, flow=flow)
        return F.interpolate(self.task(f_cur), size=current.shape[-2:], mode="bilinear", align_corners=False)

    def compute_auxiliary_losses(self, stash, target, n_labeled) -> dict[str, torch.Tensor]:
        if self.flow_weight <= 0:
            return {}
        photo = photometric_loss(stash["current"], stash["key"], stash["flow"])
        smooth = smoothness_loss(stash["flow"], "l1")
        return {"flow": self.flow_weight * (photo + self.smooth_weight * smooth)}
