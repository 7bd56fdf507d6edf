"""The model contract: what every registered network promises, stated once in a base class.

    model = create_model(name, **settings)       # a SegmentationModel
    logits = model(x)                             # x float (B, k, H, W) in [0, 1], k = model.window
                                                  # -> logits (B, 1, H, W) of the centre frame k // 2

- `window` (k): the odd number of consecutive frames the model reads (1 for single-frame models).
- Input size: H and W positive multiples of STRIDE (16) and at least `min_input`; `check_input_shape`
  checks it once, with one message, as smp's `SegmentationModel.check_input_shape` does.
- Intensity normalisation happens inside the model (`normalize_input`: [0, 1] -> [-1, 1]).
- Auxiliary outputs: `auxiliary_losses(target, n_labeled) -> {name: weighted scalar}` after a
  training-mode forward (`echoseg.models.auxiliary`); {} for models without auxiliary losses.
- Per-frame features (optional): models with `splits_frames = True` split into
  `encode_frames(frames, position)` and `decode_window(features)`, so whole-video inference encodes
  each frame once (`echoseg.models.video`); with `shared_encoder` too, one encoding of a frame serves
  every window position.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.auxiliary import AuxiliaryLossMixin

MAX_WINDOW = 11
STRIDE = 16  # the encoders' total downsampling: H and W must be multiples of it


def check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window > MAX_WINDOW or window % 2 == 0:
        raise ValueError(f"window (k) must be an odd integer in 1..{MAX_WINDOW}, got {window!r}")
    return window


def check_spatial(h: int, w: int, minimum: int = STRIDE) -> None:
    if h % STRIDE or w % STRIDE or h == 0 or w == 0:
        raise ValueError(f"frame size {h}x{w} is not supported: height and width must be positive multiples of "
                         f"{STRIDE} (resize first, e.g. with echoseg.data.resize.resize_video)")
    if h < minimum or w < minimum:
        raise ValueError(f"frame size {h}x{w} is too small for this network: it needs at least {minimum}x{minimum} "
                         "(unpadded 3x3 calibration transforms need a 3x3 map at H/16)")


class SegmentationModel(AuxiliaryLossMixin, nn.Module):
    """Base of every registered network (module doc). Subclasses set `window` in __init__ and may
    raise `min_input`, set `splits_frames` (and `shared_encoder`) and override the hooks."""

    window: int = 1
    min_input: int = STRIDE
    splits_frames: bool = False  # encode_frames / decode_window exist
    shared_encoder: bool = False  # one encoder for every window position

    def check_input_shape(self, x: torch.Tensor) -> None:
        """(B, window, H, W) with H, W valid input sizes (`check_spatial`), else ValueError."""
        if x.ndim != 4 or x.shape[1] != self.window:
            raise ValueError(f"expected input (B, {self.window}, H, W) for a model with window k={self.window}, "
                             f"got shape {tuple(x.shape)}")
        check_spatial(x.shape[2], x.shape[3], self.min_input)

    @staticmethod
    def normalize_input(frames: torch.Tensor) -> torch.Tensor:
        """[0, 1] intensities -> [-1, 1]; the first BatchNorm absorbs the rest."""
        return (frames - 0.5) * 2.0

    def encode_frames(self, frames: torch.Tensor, position: int = 0) -> list[torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no per-frame features (splits_frames = False)")

    def decode_window(self, window_features: list[list[torch.Tensor]]) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no per-frame features (splits_frames = False)")
