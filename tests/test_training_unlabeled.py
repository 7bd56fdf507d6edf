"""Untraced videos for training (`data.unlabeled`) reach the model as `echoseg predict` shows them to it:
a scanner export is cut to its fan, so adaptation learns from the view the adapted model will predict on."""

from __future__ import annotations

import cv2
import numpy as np

from echoseg.data.inputs import read_video
from echoseg.data.sector import FanCrop, detect_fan
from echoseg.data.synthetic import generate_video
from echoseg.data.synthetic.export import render_export
from echoseg.training.unlabeled import unlabeled_videos
from readers_fixtures import write_avi


def test_a_scanner_export_is_cut_to_its_fan_as_predict_cuts_it(tmp_path):
    export = render_export(generate_video(0, frames=16, size=96, difficulty="medium"), 0, canvas=(240, 320))
    write_avi(tmp_path / "clinic" / "scan.avi", export.rgb[..., ::-1].copy(), fps=export.fps)
    source = unlabeled_videos([tmp_path / "clinic"])
    sample = source.load(source.records()[0].case_id)
    decoded = read_video(tmp_path / "clinic" / "scan.avi").frames
    crop = FanCrop.native(detect_fan(decoded))
    assert sample.video.shape == (16, crop.window[3], crop.window[3]) and crop.window[3] < 240
    assert np.array_equal(sample.video, crop.apply(decoded))
    outside = ~crop.geometry.mask_in_window(*crop.window[:2], crop.window[3], crop.window[2], 1.0)
    assert outside.any() and sample.video[:, outside].max() == 0  # text, ECG and markers blanked


def test_small_frames_and_frames_without_a_fan_stay_whole(tmp_path):
    rng = np.random.default_rng(0)
    write_avi(tmp_path / "v" / "small.avi", rng.integers(0, 255, (6, 40, 48, 3), dtype=np.uint8))
    noise = cv2.GaussianBlur(rng.integers(0, 255, (200, 260), dtype=np.uint8), (0, 0), 1.0)
    write_avi(tmp_path / "v" / "nofan.avi", np.repeat(np.repeat(noise[None, ..., None], 6, 0), 3, 3))
    source = unlabeled_videos([tmp_path / "v"])
    shapes = {r.case_id: source.load(r.case_id).video.shape for r in source.records()}
    assert shapes == {"unlabeled/small": (6, 40, 48), "unlabeled/nofan": (6, 200, 260)}
