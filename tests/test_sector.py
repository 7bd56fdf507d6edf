"""Sector (fan) detection on synthetic scanner exports, the crop to the model and the way back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echoseg.data.sector import FanCrop, FanGeometry, FanNotFound, detect_fan, iou
from echoseg.data.synthetic import generate_video
from echoseg.data.synthetic.export import render_export


@pytest.fixture(scope="module")
def exports():
    """Three exports of different layout (canvas, fan size and position, overlays everywhere)."""
    out = []
    for seed, canvas in ((0, (240, 320)), (1, (300, 400)), (5, (264, 352))):
        video = generate_video(seed, frames=20, size=96, difficulty=("easy", "medium", "hard")[seed % 3])
        out.append(render_export(video, seed, canvas=canvas))
    return out


def test_detected_fan_matches_the_true_fan(exports):
    for export in exports:
        fan = detect_fan(export.gray)
        truth = export.fan
        assert iou(fan.mask(), truth.mask()) >= 0.95
        assert abs(fan.apex[0] - truth.apex[0]) < 3 and abs(fan.apex[1] - truth.apex[1]) < 4
        assert np.allclose(np.degrees(fan.angles), np.degrees(truth.angles), atol=2.0)
        assert fan.radii[1] == pytest.approx(truth.radii[1], rel=0.03)
        assert not fan.fills_frame()


def test_overlays_are_outside_and_the_fan_is_off_centre(exports):
    for export in exports:
        inside = export.fan.mask()
        changing = export.gray.std(axis=0) > 0
        assert (changing & ~inside).any()  # the ECG sweep and the clock change over time too
        drawn = export.rgb.max(axis=(0, 3)) > 0
        assert (drawn & ~inside).sum() > 0.01 * inside.sum()  # text, scales, bars
        assert export.masks.any(axis=0).sum() > 0 and not (export.masks & ~inside[None]).any()


def test_still_image_uses_speckle_texture(exports):
    export = exports[0]
    fan = detect_fan(export.gray[:1])
    assert iou(fan.mask(), export.fan.mask()) >= 0.9


def test_echonet_style_frames_are_already_cropped():
    video = generate_video(2, frames=20, size=112).sample.video
    assert detect_fan(video).fills_frame()


def test_no_fan_is_a_clear_error_and_a_dicom_region_is_the_fallback():
    frames = np.zeros((10, 120, 160), np.uint8)
    frames[:, 20:30, 10:150] = 200  # burned-in text: static
    with pytest.raises(FanNotFound, match=r"clip.avi: no ultrasound fan found: .*--no-crop"):
        detect_fan(frames, path="clip.avi")
    region = (40, 10, 120, 100)
    fan = detect_fan(frames, region=region)
    assert fan.source == "dicom-region" and fan.apex is None and fan.bbox() == region


def test_region_restricts_detection_to_its_box(exports):
    export = exports[1]
    fan = detect_fan(export.gray, region=export.region)
    assert fan.source == "pixels" and iou(fan.mask(), export.fan.mask()) >= 0.95
    x0, y0, x1, y1 = export.region
    mask = fan.mask()
    assert not mask[:, :x0].any() and not mask[:, x1:].any() and not mask[y1:].any()


def test_geometry_survives_json(exports):
    fan = detect_fan(exports[2].gray)
    again = FanGeometry.from_dict(fan.to_dict())
    assert iou(again.mask(), fan.mask()) > 0.999


def _sector(shape=(200, 300), apex=(140.0, 30.0), half_deg=35.0, radius=150.0):
    half = math.radians(half_deg)
    return FanGeometry(shape=shape, apex=apex, angles=(-half, half), radii=(0.0, radius), box=(0, 0, shape[1], shape[0]),
                       source="truth")


@pytest.mark.parametrize("size", [(64, 64), (64, 96), (96, 64)])
def test_crop_keeps_the_aspect_ratio_and_maps_back(size):
    fan = _sector()
    crop = FanCrop.around(fan, size)
    x0, y0, width, height = crop.window
    assert width / height == pytest.approx(size[1] / size[0], rel=0.02)  # padded, not stretched
    # Outside the sector is blanked; the sector's pixels arrive.
    frame = np.full((1, *fan.shape), 200, np.uint8)
    model_input = crop.apply(frame)[0]
    assert model_input.shape == size
    fan_in_input = crop.geometry.mask_in_window(x0, y0, size[0], size[1], crop.scale)
    assert model_input[~fan_in_input].mean() < 40 and model_input[fan_in_input].mean() > 150
    # The sector seen by the model has the original's angles: an isotropic scale keeps them.
    refit = detect_fan(np.stack([crop.apply(_speckle(fan, seed))[0] for seed in range(8)]))
    assert np.allclose(refit.angles, fan.angles, atol=math.radians(3))
    # A blob inside the fan goes to the model and comes back where it was.
    blob = np.zeros(fan.shape, bool)
    blob[80:130, 120:170] = True
    probs = crop.apply_mask(blob)[None].astype(np.float32)
    assert iou(crop.invert_probs(probs)[0] > 0.5, blob) > 0.9
    corner = crop.to_original(np.array([[0.0, 0.0]]))  # the centre of the model's first pixel
    assert corner[0] == pytest.approx([x0 + 0.5 / crop.scale - 0.5, y0 + 0.5 / crop.scale - 0.5], abs=1e-6)
    assert crop.input_spacing((0.3, 0.3))[0] == pytest.approx(0.3 * height / size[0])


def _speckle(fan: FanGeometry, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(40, 255, (1, *fan.shape)) * fan.mask()).astype(np.uint8)


def test_whole_framing_keeps_the_lateral_tips():
    fan = _sector(half_deg=45.0)
    depth = FanCrop.around(fan, (64, 64), framing="depth")
    whole = FanCrop.around(fan, (64, 64), framing="whole")
    everywhere = np.ones((1, 64, 64), np.float32)
    assert whole.invert_probs(everywhere)[0][fan.mask()].mean() > 0.99
    assert depth.invert_probs(everywhere)[0][fan.mask()].mean() < 0.97  # the lateral tips fall outside its window
    assert whole.window[2] > depth.window[2]


def test_signal_over_the_whole_frame_without_a_fan_shape_is_already_cropped():
    rng = np.random.default_rng(0)
    frames = rng.integers(20, 230, (12, 96, 128)).astype(np.uint8)  # a rectangle of speckle, edge to edge
    fan = detect_fan(frames)
    assert fan.fills_frame() and fan.source in ("whole-frame", "pixels")


def test_linear_probe_rectangle_on_a_canvas_is_a_box():
    rng = np.random.default_rng(1)
    frames = np.zeros((12, 200, 300), np.uint8)
    frames[:, 30:170, 90:220] = rng.integers(20, 230, (12, 140, 130))
    frames[:, 10:16, 5:80] = 255  # static text
    fan = detect_fan(frames)
    assert fan.apex is None and iou(fan.mask(), frames.std(axis=0) > 0) > 0.95


def test_frozen_image_with_a_moving_ecg_falls_back_to_texture(exports):
    export = exports[0]
    frozen = np.repeat(export.gray[:1], 12, axis=0)
    frozen[:, -12:-4, :] = export.gray[:12, -12:-4, :]  # the ECG band still sweeps
    frozen[np.arange(12), -8, np.arange(12) * 20] = 255
    assert iou(detect_fan(frozen).mask(), export.fan.mask()) >= 0.9
