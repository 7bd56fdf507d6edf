"""Streaming segmentation for live use: push frames one at a time, get each frame's mask back.

A k-frame model needs the k//2 frames after a frame before it can segment it, so outputs lag the
input by k//2 frames (one frame for k = 3, none for k = 1). Windows at the start of the stream
replicate the first frame and `flush()` replicates the last one, exactly as the offline
`echoseg.models.video.predict_video_probs` does, so a streamed video gives the same probabilities,
and the masks come from the segmenter's own mask rule, as `predict` writes them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from echoseg.data.resize import resize_probs, resize_video

if TYPE_CHECKING:
    from echoseg.inference.segmenter import Segmenter


@dataclass
class StreamOutput:
    """Result for one frame: its index in the stream, probabilities float32 (H, W) and mask bool (H, W)."""

    index: int
    probs: np.ndarray
    mask: np.ndarray


class StreamingSegmenter:
    """Frame-by-frame LV segmentation with `window // 2` frames of latency.

    segmenter: the model, its input size (frames of another size are resized and the output resized
    back), device, precision and mask rule (`Segmenter.stream()` makes one).
    """

    def __init__(self, segmenter: Segmenter):
        self.segmenter = segmenter
        self.window = segmenter.window
        self.before = self.window // 2
        self.after = self.window - 1 - self.before
        self.reset()

    def reset(self) -> None:
        """Start a new stream (a new video)."""
        self._frames: deque[np.ndarray] = deque(maxlen=self.window)
        self._first_index = 0  # stream index of self._frames[0]
        self._pushed = 0
        self._next_out = 0
        self._frame_size: tuple[int, int] | None = None

    def push(self, frame: np.ndarray) -> StreamOutput | None:
        """Add frame uint8 (H, W); returns the output for frame `pushed - 1 - window//2`, or None at the start."""
        frame = np.asarray(frame)
        if frame.ndim != 2:
            raise ValueError(f"frame must be 2-D grayscale (H, W), got shape {frame.shape}")
        if self._frame_size is None:
            self._frame_size = frame.shape
        elif frame.shape != self._frame_size:
            raise ValueError(f"frame size changed within a stream: {self._frame_size} -> {frame.shape}")
        frame = resize_video(frame[None], self.segmenter.input_size)[0]
        if len(self._frames) == self.window:
            self._first_index += 1
        self._frames.append(np.ascontiguousarray(frame))
        self._pushed += 1
        if self._next_out + self.after <= self._pushed - 1:
            return self._emit(last=self._pushed - 1)
        return None

    def flush(self) -> list[StreamOutput]:
        """Outputs for the frames still waiting for successors (the last one is replicated); then reset."""
        outs = []
        while self._next_out < self._pushed:
            outs.append(self._emit(last=self._pushed - 1))
        self.reset()
        return outs

    def _emit(self, last: int) -> StreamOutput:
        centre = self._next_out
        indices = [min(max(centre + off, 0), last) for off in range(-self.before, self.after + 1)]
        # Frames before the buffer start only occur while the buffer still holds frame 0 (clipped).
        window = np.stack([self._frames[i - self._first_index] for i in indices])
        seg = self.segmenter
        probs = seg.engine.window_probs(window[None])[0]  # the segmenter's engine: PyTorch or ONNX Runtime
        if self._frame_size is not None and probs.shape != self._frame_size:
            probs = resize_probs(probs[None], self._frame_size)[0]
        self._next_out += 1
        return StreamOutput(index=centre, probs=probs, mask=seg.mask_rule(probs))
