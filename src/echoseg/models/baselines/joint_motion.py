"""`joint_motion`: joint motion estimation and segmentation (Qin et al., MICCAI 2018, "Joint Learning
of Motion Estimation and Segmentation for Cardiac MR Image Sequences", section 2).

One feature encoder (VGG-16 convolutions) is shared, Siamese-style, by two branches:
- motion branch: the features of the target frame and of a source frame, concatenated at every
  scale, give a dense flow (target -> source) trained without labels by warping the source onto the
  target (mean squared intensity error) with a Huber smoothness penalty;
- segmentation branch: the target frame's multi-scale features give the mask (supervised).
Both heads follow Bai et al. 2017's FCN: each scale's features -> 3x3 conv -> upsampling to full
resolution -> concatenation -> two 3x3 convs -> 1x1 prediction. Learning the encoder jointly lets the
many unannotated frames shape the features the segmentation uses (the paper's "weakly-supervised
segmentation"); the SSCF paper calls this a 2.5D approach.

How it reads a video: the centre frame t is the target; in training each other frame of the window
(default k = 3: t-1 and t+1) is a source for the motion branch. At inference the segmentation branch
needs only frame t (the motion branch regularises training and is skipped in eval mode).

Simplifications (also in the README):
- the recurrent units that make the paper's motion branch a sequence model are left out (one flow
  per (target, source) pair); random initialisation;
- loss weights (MSE photometric x `motion_weight`, Huber smoothness x `smooth_weight` inside it)
  are our choice for this harness; Qin et al. tune theirs for cardiac MR.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.baselines.flow import photometric_loss, smoothness_loss
from echoseg.models.blocks import ConvBNReLU
from echoseg.models.registry import register_model

VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (channels, convs) per block


class VGGEncoder(nn.Module):
    """VGG-16 convolutions (with BatchNorm), max-pool between blocks: scales 1, 1/2, 1/4, 1/8, 1/16.
    (B, cin, H, W) -> 5 feature maps; `out_channels` lists their channels."""

    def __init__(self, width: float = 1.0, in_channels: int = 1):
        super().__init__()
        blocks, channels, cin = [], [], in_channels
        for c, n in VGG16_STAGES:
            c = scaled(c, width)
            blocks.append(nn.Sequential(*[ConvBNReLU(cin if i == 0 else c, c) for i in range(n)]))
            channels.append(c)
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            features.append(x)
        return features


class MultiScaleHead(nn.Module):
    """Bai et al.'s FCN head: per-scale 3x3 conv to `mid` channels, upsample to the finest scale,
    concatenate, two 3x3 ConvBNReLU, 1x1 conv to `out` channels."""

    def __init__(self, in_channels: tuple[int, ...], mid: int, out: int):
        super().__init__()
        self.reduce = nn.ModuleList(ConvBNReLU(c, mid) for c in in_channels)
        self.fuse = nn.Sequential(ConvBNReLU(mid * len(in_channels), mid), ConvBNReLU(mid, mid), nn.Conv2d(mid, out, 1))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        ups = [F.interpolate(r(f), size=size, mode="bilinear", align_corners=False) if i else r(f)
               for i, (r, f) in enumerate(zip(self.reduce, features, strict=True))]
        return self.fuse(torch.cat(ups, dim=1))


@register_model("joint_motion", family="competitor")
class JointMotion(BaselineNet):
    min_window = 3

    def __init__(self, *, width: float = 1.0, window: int = 3, motion_weight: float = 1.0,
                 smooth_weight: float = 0.01):
        super().__init__(window)
        self.motion_weight, self.smooth_weight = float(motion_weight), float(smooth_weight)
        self.encoder = VGGEncoder(width)
        channels = self.encoder.out_channels
        mid = scaled(64, width)
        self.segmentation_head = MultiScaleHead(channels, mid, 1)
        self.motion_head = MultiScaleHead(tuple(2 * c for c in channels), mid, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.window_frames(x)
        centre = self.window // 2
        if not (self.training and torch.is_grad_enabled()):
            return self.segmentation_head(self.encoder(frames[centre]))
        b = x.shape[0]
        features = self.encoder(torch.cat(frames, dim=0))  # one Siamese pass over all k frames
        per_frame = [[f[j * b:(j + 1) * b] for f in features] for j in range(self.window)]
        sources = [j for j in range(self.window) if j != centre]
        pairs = [[torch.cat([t, s], dim=1) for t, s in zip(per_frame[centre], per_frame[j], strict=True)]
                 for j in sources]
        # all (target, source) pairs in one motion-head pass
        flows = self.motion_head([torch.cat([p[s] for p in pairs], dim=0) for s in range(len(features))])
        self.stash_auxiliary(target=frames[centre].repeat(len(sources), 1, 1, 1),
                             source=torch.cat([frames[j] for j in sources], dim=0), flow=flows)
        return self.segmentation_head(per_frame[centre])

    def compute_auxiliary_losses(self, stash, target, n_labeled) -> dict[str, torch.Tensor]:
        photo = photometric_loss(stash["target"], stash["source"], stash["flow"], robust=False)
        smooth = smoothness_loss(stash["flow"], "huber")
        return {"motion": self.motion_weight * (photo + self.smooth_weight * smooth)}
