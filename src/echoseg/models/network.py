"""The temporal segmentation network all registered variants are built from.

    features_j = encoder_j(frame_j)            j = 0..k-1 (one shared encoder, or k separate: TCE)
    fused_s    = fusion_s([features_j[s]])     per stage s (concat or BSSF; none when k = 1)
    logits     = head(decoder(fused))          centre frame, (B, 1, H, W)

The two halves are public so that whole-video inference can encode each frame once and reuse its
features in every window that contains it (`encode_frames`, `decode_window`); `forward` is just
the two in sequence.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.contract import STRIDE, SegmentationModel, check_window
from echoseg.models.decoders import build_decoder
from echoseg.models.encoders import ResNetEncoder
from echoseg.models.fusion import BSSF, ConcatFusion

FUSIONS = ("concat", "bssf")


class TemporalSegNet(SegmentationModel):
    """(B, k, H, W) float in [0, 1] -> logits (B, 1, H, W) of the centre frame k // 2.

    shared_encoder: one encoder for all k frames (its features can be reused across windows);
    otherwise k encoders with separate weights, one per relative frame position (TCE).
    fusion: "concat" or "bssf"; unused when k = 1.
    calibration, calibration_scale, transform_padding, dilations: the ASSC settings (calibration.py).
    release_decoder: the released network's LinkNet tail (decoders.py).
    """

    splits_frames = True

    def __init__(self, *, window: int = 3, width: float = 1.0, shared_encoder: bool = False, fusion: str = "bssf",
                 decoder: str = "linknet", dilations: tuple[int, ...] = (1,), calibration: str = "matmul",
                 calibration_scale: str = "centred", transform_padding: int = 1, release_decoder: bool = False):
        super().__init__()
        self.window = check_window(window)
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid: {list(FUSIONS)}")
        self.shared_encoder = shared_encoder or window == 1
        n_encoders = 1 if self.shared_encoder else window
        self.encoders = nn.ModuleList(ResNetEncoder(width) for _ in range(n_encoders))
        channels = self.encoders[0].out_channels
        # unpadded Tq/Tk (the release) need a 3x3 map at the deepest stage
        self.min_input = 3 * STRIDE if fusion == "bssf" and window > 1 and transform_padding == 0 else STRIDE
        if window == 1:
            self.fusions = nn.ModuleList()
        elif fusion == "concat":
            self.fusions = nn.ModuleList(ConcatFusion(c, window) for c in channels)
        else:
            self.fusions = nn.ModuleList(
                BSSF(c, window, tuple(dilations), kernel=calibration, scale=calibration_scale,
                     transform_padding=transform_padding) for c in channels
            )
        self.decoder = build_decoder(decoder, channels, release_decoder)
        k = self.decoder.head_kernel_size
        self.head = nn.Conv2d(self.decoder.out_channels, 1, k, padding=k // 2)

    def encode_frames(self, frames: torch.Tensor, position: int = 0) -> list[torch.Tensor]:
        """Encode frames (N, 1, H, W) in [0, 1] seen at window `position` (ignored with a shared encoder).

        Returns the four stage features [(N, c1, H/2, W/2), ..., (N, c4, H/16, W/16)].
        """
        encoder = self.encoders[0] if self.shared_encoder else self.encoders[position]
        return encoder(self.normalize_input(frames))

    def decode_window(self, window_features: list[list[torch.Tensor]]) -> torch.Tensor:
        """window_features[j][s]: stage-s features (B, c_s, h_s, w_s) of the window's j-th frame -> (B, 1, H, W)."""
        if len(window_features) != self.window:
            raise ValueError(f"expected features of {self.window} frames, got {len(window_features)}")
        if self.window == 1:
            fused = window_features[0]
        else:
            fused = [fusion([f[s] for f in window_features]) for s, fusion in enumerate(self.fusions)]
        return self.head(self.decoder(fused))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        if self.shared_encoder and self.window > 1:
            # one encoder pass over all B*k frames: a bigger batch is faster than k small ones
            b, k, h, w = x.shape
            stacked = self.encode_frames(x.reshape(b * k, 1, h, w))
            feats = [[f.reshape(b, k, *f.shape[1:])[:, j] for f in stacked] for j in range(k)]
        else:
            feats = [self.encode_frames(x[:, j:j + 1], j) for j in range(self.window)]
        return self.decode_window(feats)
