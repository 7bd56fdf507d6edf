"""What every competitor network shares: the registry contract, its settings, auxiliary losses.

A competitor is a `BaselineNet`: it reads a window (B, k, H, W) in [0, 1] and returns the centre
frame's logits (B, 1, H, W), like the SSCF variants. How it uses the k frames is its own business
and each module's docstring says it:
- online (causal) methods (DFF, Accel, TDNet, C-LSTM) read frames t-r .. t of the window centred
  on t (r = k // 2): the past and the current frame, never the future ones;
- two-frame motion methods (joint_motion, joint_net) pair the centre frame with every neighbour;
- the 3D method (simlvseg3d) reads the whole clip;
- single-frame methods (mfp_net, transunet, planet, echonet_deeplabv3) have k = 1.

`window_frames(x)` gives the frames as (B, 1, H, W) tensors normalised to [-1, 1]. Each class is
registered directly (`@register_model("name", family="competitor")`): its keyword-only constructor arguments are the
model's settings, which checkpoints store and `create_model` passes back.
"""

from __future__ import annotations

import torch

from echoseg.models.contract import MAX_WINDOW, SegmentationModel, check_window


def scaled(channels: int, width: float) -> int:
    """A channel count times the width multiplier, at least 1."""
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(1, int(round(channels * width)))


class BaselineNet(SegmentationModel):
    """Base of the competitor networks. Subclasses set `min_window` / `max_window` and implement forward."""

    min_window = 1
    max_window = MAX_WINDOW

    def __init__(self, window: int):
        super().__init__()
        window = check_window(window)
        if not self.min_window <= window <= self.max_window:
            if self.min_window == self.max_window:
                raise ValueError(f"{type(self).__name__} reads a window of exactly k={self.min_window} "
                                 f"frame(s), got window={window}")
            raise ValueError(f"{type(self).__name__} needs an odd window k in {self.min_window}.."
                             f"{self.max_window}, got window={window}")
        self.window = window

    def window_frames(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Validated window -> k normalised frames (B, 1, H, W), oldest first; the centre is [k // 2]."""
        self.check_input_shape(x)
        x = self.normalize_input(x)
        return [x[:, j:j + 1] for j in range(self.window)]
