"""`accel`: Accel (Jain, Wang & Gonzalez, CVPR 2019, "Accel: A Corrective Fusion Network for
Efficient Semantic Segmentation on Video", section 3).

Two branches whose score maps a 1x1 convolution fuses:
- reference branch: a deep network on the reference (key) frame; its features are warped forward
  *incrementally*, frame to frame, with optical flow between consecutive frames, then scored;
- update branch: a shallow network on the current frame, scored.

    key = frame t-r of the window centred on t (r = k // 2), current = frame t
    f   = ResNet-50 (output stride 16)(key)
    for j = t-r+1 .. t:  f = warp(f, FlowNet(frame j, frame j-1))          (incremental warping)
    s_ref = task_ref(f);  s_upd = task_upd(ResNet-18(current))             (1/16 score maps)
    logits = 1x1 conv([s_ref, s_upd]) -> bilinear upsampling x16           (corrective fusion)

How it reads a video: online; the reference frame is the oldest of the window and frames after t
are unused. As with DFF, our sliding-window inference recomputes the reference branch per window.

Simplifications (also in the README):
- reference network ResNet-50 (the paper: DeepLab ResNet-101), update network our ResNet-18-style
  encoder (the paper's Accel-18 uses ResNet-18), flow network a shortened FlowNet-S; all trained
  from scratch (the paper starts from Cityscapes/ImageNet/Flying Chairs weights);
- an unsupervised flow loss (photometric + smoothness on every consecutive pair, weight
  `flow_weight`) stands in for FlowNet's pretraining; 0 turns it off.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet
from echoseg.models.baselines.dff import deep_features, task_head
from echoseg.models.baselines.flow import FlowNet, photometric_loss, smoothness_loss, warp
from echoseg.models.encoders import ResNetEncoder
from echoseg.models.registry import register_model


@register_model("accel", family="competitor")
class Accel(BaselineNet):
    min_window = 3

    def __init__(self, *, width: float = 1.0, window: int = 3, flow_weight: float = 0.1, smooth_weight: float = 0.1):
        super().__init__(window)
        self.flow_weight, self.smooth_weight = float(flow_weight), float(smooth_weight)
        self.reference_net = deep_features(width)
        self.update_net = ResNetEncoder(width)
        self.flow_net = FlowNet(width)
        self.reference_task = task_head(self.reference_net.out_channels[-1], width)
        self.update_task = task_head(self.update_net.out_channels[-1], width)
        self.fusion = nn.Conv2d(2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.window_frames(x)[: self.window // 2 + 1]  # t-r .. t
        features = self.reference_net(frames[0])[-1]
        pairs = []
        for previous, frame in zip(frames[:-1], frames[1:], strict=True):
            flow, _ = self.flow_net(frame, previous)
            features = warp(features, flow)
            pairs.append((frame, previous, flow))
        current = frames[-1]
        scores = torch.cat([self.reference_task(features), self.update_task(self.update_net(current)[-1])], dim=1)
        self.stash_auxiliary(**{f"{name}{i}": t for i, pair in enumerate(pairs)
                                for name, t in zip(("target", "source", "flow"), pair, strict=True)})
        return F.interpolate(self.fusion(scores), size=current.shape[-2:], mode="bilinear", align_corners=False)

    def compute_auxiliary_losses(self, stash, target, n_labeled) -> dict[str, torch.Tensor]:
        if self.flow_weight <= 0:
            return {}
        n_pairs = self.window // 2
        loss = sum(photometric_loss(stash[f"target{i}"], stash[f"source{i}"], stash[f"flow{i}"])
                   + self.smooth_weight * smoothness_loss(stash[f"flow{i}"], "l1") for i in range(n_pairs))
        return {"flow": self.flow_weight * loss / n_pairs}
