"""The model's view of a video: scanner exports cut to their fan and mapped back; cropped videos as before."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.data.sector import FanNotFound, detect_fan, iou
from echoseg.data.synthetic import generate_video
from echoseg.data.synthetic.export import render_export
from echoseg.inference.views import model_view


@pytest.fixture(scope="module")
def export():
    return render_export(generate_video(7, frames=16, size=96), 7, canvas=(240, 320))


def test_export_is_cut_to_its_fan_and_predictions_come_back_to_the_canvas(export):
    view = model_view(export.gray, (64, 64), path="x.avi")
    assert view.frames.shape == (16, 64, 64) and view.crop is not None and "cropped" in view.note
    # A perfect model's output (the truth seen through the window) lands on the truth in canvas pixels.
    probs = np.stack([view.crop.apply_mask(m) for m in export.masks]).astype(np.float32)
    back = view.probs_to_frame(probs) > 0.5
    assert back.shape == export.masks.shape
    assert min(iou(b, t) for b, t in zip(back, export.masks, strict=True)) > 0.9
    # What the model sees resembles the clean square fan the generator made: same fan fill.
    assert abs((view.frames.max(axis=0) > 0).mean() - (export.clean_video.max(axis=0) > 0).mean()) < 0.1
    record = view.record()
    assert record["cropped"] and record["fan"]["source"] == "pixels" and record["crop"]["input_size"] == [64, 64]


def test_already_cropped_and_no_crop_resize_the_whole_frame(export):
    video = generate_video(1, frames=16, size=112).sample.video
    view = model_view(video, (64, 64))
    assert view.crop is None and "already cut to their fan" in view.note
    whole = model_view(export.gray, (64, 64), crop=False)
    assert whole.crop is None and whole.fan is None and whole.note.startswith("--no-crop")
    assert whole.probs_to_frame(np.ones((2, 64, 64), np.float32)).shape == (2, 240, 320)


def test_no_fan_falls_back_to_the_whole_frame_with_a_note():
    """A frame where no sector is found is resized whole, never refused (issue 22): the note says why."""
    frames = np.zeros((8, 240, 320), np.uint8)
    with pytest.raises(FanNotFound):  # the detector itself still says there is no fan ...
        detect_fan(frames, path="scan.dcm")
    view = model_view(frames, (64, 64), path="scan.dcm")  # ... but the model's view does not fail
    assert view.crop is None and view.fan is None and view.frames.shape == (8, 64, 64)
    assert "no ultrasound fan found" in view.note and "whole frame" in view.note


def test_small_frames_are_taken_as_already_cut_to_their_fan():
    """EchoNet-Dynamic's 112x112 frames are resized whole whatever the detector makes of a dark near
    field or a faint lateral edge: one preprocessing for one dataset, the one training used."""
    video = generate_video(3, frames=16, size=112).sample.video.copy()
    video[:, :20] = 0  # a dark near field: the detector alone would see a fan starting 20 rows down
    video[:, :, 96:] = 0
    view = model_view(video, (64, 64))
    assert view.crop is None and view.frames.shape == (16, 64, 64)
    assert "already cut to their fan" in view.note
    assert np.array_equal(view.frames, model_view(video, (64, 64), crop=False).frames)
