"""`clstm`: a fully convolutional network with a convolutional LSTM over time (Bai et al., MICCAI
2018, "Recurrent Neural Networks for Aortic Image Sequence Segmentation with Sparse Annotations",
section 2.1; the SSCF paper's "C-LSTM").

A U-Net extracts each frame's features (shared weights over time); a ConvLSTM (Shi et al. 2015)
carries a hidden and a cell state from frame to frame at full resolution, so the prediction for frame
t depends on the frames before it; a 1x1 conv on the hidden state gives the logits.

    u_j      = U-Net(frame_j)                         (B, c, H, W), j = t-r .. t
    h_j, c_j = ConvLSTM(u_j, (h_{j-1}, c_{j-1}))       zeros before the first frame
    logits   = 1x1 conv(h_t)

How it reads a video: a window of k frames centred on t, of which the LSTM runs over t-r .. t
(r = k // 2, default k = 5: three steps), starting from a zero state at t-r: a truncated recurrence
of r + 1 steps per output frame rather than one pass over the whole video; frames after t are unused
(a forward LSTM). `sequence_logits` runs the same recurrence over any number of frames and returns
every step's logits: carry the state through a whole video with it.

Simplifications (also in the README):
- the U-Net is our ResNet-18-style encoder with the U-Net decoder; random initialisation;
- the paper's label propagation by non-rigid registration and its exponentially weighted loss over
  propagated labels are omitted: only the traced (centre) frame is supervised, as for every model here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from echoseg.models.baselines.common import BaselineNet, scaled
from echoseg.models.decoders import UNetDecoder
from echoseg.models.encoders import ResNetEncoder
from echoseg.models.registry import register_model


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: gates i, f, o, g from a 3x3 conv of [input, hidden].
    x (B, cin, H, W), state (h, c) each (B, hidden, H, W) or None (zeros) -> new (h, c)."""

    def __init__(self, cin: int, hidden: int, kernel_size: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(cin + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():  # forget-gate bias 1: remember by default (Jozefowicz et al. 2015)
            self.gates.bias.zero_()
            self.gates.bias[hidden:2 * hidden] = 1.0

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


@register_model("clstm", family="competitor")
class CLSTM(BaselineNet):
    def __init__(self, *, width: float = 1.0, window: int = 5):
        super().__init__(window)
        self.encoder = ResNetEncoder(width)
        self.decoder = UNetDecoder(self.encoder.out_channels)
        self.lstm = ConvLSTMCell(self.decoder.out_channels, scaled(32, width))
        self.head = nn.Conv2d(self.lstm.hidden, 1, 1)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) normalised frames -> U-Net features (N, c, H, W)."""
        return self.decoder(self.encoder(frames))

    def sequence_logits(self, frames: list[torch.Tensor],
                        state: tuple[torch.Tensor, torch.Tensor] | None = None
                        ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """Normalised frames [(B, 1, H, W)] in time order -> (logits of every step, final state)."""
        b = frames[0].shape[0]
        features = self.frame_features(torch.cat(frames, dim=0))  # one batched U-Net pass
        logits = []
        for j in range(len(frames)):
            state = self.lstm(features[j * b:(j + 1) * b], state)
            logits.append(self.head(state[0]))
        return logits, state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.window_frames(x)[: self.window // 2 + 1]  # t-r .. t
        logits, _ = self.sequence_logits(frames)
        return logits[-1]
