"""`joint_net`: joint motion tracking and segmentation (Ta et al., MICCAI 2020, "A Semi-supervised
Joint Network for Simultaneous Left Ventricular Motion Tracking and Segmentation in 4D
Echocardiography", section 2).

Two networks with separate weights, coupled by feature sharing and trained together:
- motion tracking: a U-Net on a (target, source) frame pair predicts a dense displacement field,
  trained without labels by warping the source onto the target, with a smoothness penalty on the
  displacement (the SSCF paper: "carefully smoothing the displacement map between a source and a
  target frame");
- segmentation: a U-Net on the target frame whose encoder features, at every scale, are fused with
  the motion encoder's features (concatenation + 1x1 conv), so motion cues reach the mask.

    m_j     = motion encoder([frame_t, frame_j])     for every neighbour j of the centre t
    u_j     = motion decoder(m_j) -> 3x3 conv -> displacement (B, 2, H, W), target t -> source j
    s       = segmentation encoder(frame_t)
    logits  = segmentation decoder(fuse(s, mean_j m_j))
    training: + motion_weight * mean_j [Charbonnier(frame_t - warp(frame_j, u_j)) + smooth_weight * |grad u_j|^2]

How it reads a video: the centre frame is the target, every other frame of the window a source
(default k = 3: t-1 and t+1), in training and in inference (the shared features need the motion
branch at inference too).

Simplifications (also in the README):
- 2D frames instead of the paper's 3D volumes; ResNet-18-style encoders with U-Net decoders;
  random initialisation;
- the paper's propagation of labels to unlabelled frames along the displacement (and the shape
  terms it enables) is omitted: only the traced centre frame is supervised, as for every model here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.baselines.common import BaselineNet
from echoseg.models.baselines.flow import photometric_loss, smoothness_loss
from echoseg.models.decoders import UNetDecoder
from echoseg.models.encoders import ResNetEncoder
from echoseg.models.fusion import ConcatFusion
from echoseg.models.registry import register_model


@register_model("joint_net", family="competitor")
class JointNet(BaselineNet):
    min_window = 3

    def __init__(self, *, width: float = 1.0, window: int = 3, motion_weight: float = 1.0, smooth_weight: float = 0.1):
        super().__init__(window)
        self.motion_weight, self.smooth_weight = float(motion_weight), float(smooth_weight)
        self.motion_encoder = ResNetEncoder(width, in_channels=2)
        self.motion_decoder = UNetDecoder(self.motion_encoder.out_channels)
        self.displacement = nn.Conv2d(self.motion_decoder.out_channels, 2, 3, padding=1)
        nn.init.normal_(self.displacement.weight, std=1e-3)  # start near the identity map
        nn.init.zeros_(self.displacement.bias)
        self.segmentation_encoder = ResNetEncoder(width)
        channels = self.segmentation_encoder.out_channels
        self.share = nn.ModuleList(ConcatFusion(c, 2) for c in channels)
        self.segmentation_decoder = UNetDecoder(channels)
        self.head = nn.Conv2d(self.segmentation_decoder.out_channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.window_frames(x)
        centre = self.window // 2
        target = frames[centre]
        sources = [frames[j] for j in range(self.window) if j != centre]
        b, n = x.shape[0], len(sources)
        pairs = torch.cat([torch.cat([target, s], dim=1) for s in sources], dim=0)  # all pairs in one pass
        motion = self.motion_encoder(pairs)
        displacement = self.displacement(self.motion_decoder(motion))
        shared = [m.view(n, b, *m.shape[1:]).mean(dim=0) for m in motion]
        seg = self.segmentation_encoder(target)
        fused = [fuse([s, m]) for fuse, s, m in zip(self.share, seg, shared, strict=True)]
        self.stash_auxiliary(target=target.repeat(n, 1, 1, 1), source=torch.cat(sources, dim=0),
                             displacement=displacement)
        return self.head(self.segmentation_decoder(fused))

    def compute_auxiliary_losses(self, stash, target, n_labeled) -> dict[str, torch.Tensor]:
        photo = photometric_loss(stash["target"], stash["source"], stash["displacement"])
        smooth = smoothness_loss(stash["displacement"], "l2")
        return {"motion": self.motion_weight * (photo + self.smooth_weight * smooth)}
