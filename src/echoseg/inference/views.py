"""How a video reaches the model and how the model's output comes back to the video's own pixels.

Inputs already cut to their fan (EchoNet-Dynamic's 112x112, CAMUS) are resized to the model's input
as they always were (training resized them the same way); so are frames where no fan is found, with a
note saying so (a batch never loses a video for want of a fan). Scanner exports (a fan on a wide canvas with
text, ECG and scales) are cut to the detected fan: everything outside it blanked, a window with the
model's aspect ratio around it (padded, never stretched), resized to the input; the probabilities
come back through the inverse window to the original frame, where the file's spacing holds, so areas
and volumes need no conversion. `crop=False` (`--no-crop`) resizes the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoseg.data.resize import resize_probs, resize_video
from echoseg.data.sector import FanCrop, FanGeometry, FanNotFound, detect_fan, small_enough_to_be_cropped


@dataclass
class ModelView:
    """A video at the model's input size.

    frames: uint8 (T, h, w) what the model sees. shape: (H, W) of the original frames.
    crop: the fan crop, or None when the whole frame is resized. fan: the detected sector (also when it
    filled the frame and no crop was needed), None when none was looked for or found. note: what was
    done, for the summary. state: summary.csv's fan_crop: "cropped", "not needed" (already cut to the
    fan), "no fan found" (whole frame resized instead) or "off" (--no-crop).
    """

    frames: np.ndarray
    shape: tuple[int, int]
    crop: FanCrop | None
    fan: FanGeometry | None
    note: str
    state: str = "off"

    def masks_from(self, probs: np.ndarray, rule) -> np.ndarray:
        """bool (T', H, W) masks on the original frames from model-input probabilities (T', h, w) by `rule`
        (probabilities (H, W) -> bool mask), one frame at a time. With a crop the rule runs on the part of
        the frame the window covers (outside it every probability is 0): the same masks, much faster on
        a wide canvas."""
        h, w = self.shape
        masks = np.zeros((len(probs), h, w), bool)
        if self.crop is None:
            for t, p in enumerate(probs):
                masks[t] = rule(resize_probs(p[None], self.shape)[0])
            return masks
        x0, y0, width, height = self.crop.window
        rows, cols = slice(max(y0, 0), min(y0 + height, h)), slice(max(x0, 0), min(x0 + width, w))
        for t, p in enumerate(probs):
            masks[t, rows, cols] = rule(self.crop.invert_probs(p[None])[0, rows, cols])
        return masks

    def probs_to_frame(self, probs: np.ndarray) -> np.ndarray:
        """float (T', h, w) model-input probabilities -> float32 (T', H, W) on the original frames."""
        if self.crop is not None:
            return self.crop.invert_probs(probs)
        return resize_probs(probs, self.shape)

    def record(self) -> dict:
        """JSON-ready description for result.json."""
        return {"cropped": self.crop is not None, "state": self.state, "note": self.note,
                "fan": self.fan.to_dict() if self.fan is not None else None,
                "crop": self.crop.to_dict() if self.crop is not None else None}


def model_view(frames: np.ndarray, input_size: tuple[int, int], *, crop: bool = True, framing: str = "depth",
               region: tuple[int, int, int, int] | None = None, path: str = "<video>") -> ModelView:
    """The model's view of uint8 (T, H, W) `frames` (see module doc); region: the file's ultrasound
    region, if any. Never fails for want of a fan: the whole frame is resized, and the note says why."""
    shape = (int(frames.shape[1]), int(frames.shape[2]))
    size = (int(input_size[0]), int(input_size[1]))
    if not crop:
        return ModelView(resize_video(frames, size), shape, None, None, _resized_note(shape, size, "--no-crop: "))
    if small_enough_to_be_cropped(shape):
        prefix = "small frames taken as already cut to their fan (as EchoNet-Dynamic's): "
        return ModelView(resize_video(frames, size), shape, None, None,
                         _resized_note(shape, size, prefix) or prefix.rstrip(": "), "not needed")
    try:
        fan = detect_fan(frames, region, path=path)
    except FanNotFound as exc:
        return ModelView(resize_video(frames, size), shape, None, None,
                         f"{exc.problem.split('; use --no-crop')[0]}: whole frame resized to the model's "
                         f"{size[1]}x{size[0]}", "no fan found")
    if fan.fills_frame():
        return ModelView(resize_video(frames, size), shape, None, fan,
                         _resized_note(shape, size, "fan fills the frame (already cropped): "), "not needed")
    window = FanCrop.around(fan, size, framing)
    x0, y0, width, height = window.window
    note = (f"fan found ({fan.source}) and cropped: {width}x{height} window at ({x0}, {y0}) resized to "
            f"{size[1]}x{size[0]}, outside blanked, predictions mapped back to the {shape[1]}x{shape[0]} frame")
    return ModelView(window.apply(frames), shape, window, fan, note, "cropped")


def _resized_note(shape: tuple[int, int], size: tuple[int, int], prefix: str) -> str:
    if shape == size:
        return ""
    return f"{prefix}frames {shape[1]}x{shape[0]} resized to the model's {size[1]}x{size[0]} and predictions resized back"
