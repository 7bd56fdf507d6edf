"""Training on scanner exports sees what predict sees: readers cut each sample to its fan on request."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from echoseg.data.readers import open_dataset
from echoseg.data.synthetic import generate_video, write_synthetic
from echoseg.data.synthetic.export import render_export


def _as_export_video(seed: int):
    """A generated video whose frames, masks and labels are replaced by its scanner-export canvas."""
    video = generate_video(seed, frames=16, size=80)
    export = render_export(video, seed, canvas=(200, 280))
    t = export.masks.shape[0]
    labels = export.masks.astype(np.uint8)
    sample = replace(video.sample, video=export.gray, masks={i: export.masks[i] for i in range(t)},
                     labels={i: labels[i] for i in range(t)}, spacing_mm=export.spacing_mm)
    truth = replace(video.truth, labels=labels)
    return replace(video, sample=sample, truth=truth), export


def test_crop_to_fan_cuts_exports_and_leaves_cropped_videos(tmp_path):
    made = [_as_export_video(seed) for seed in (1, 2)]
    write_synthetic(tmp_path / "exports", [video for video, _ in made])
    reader = open_dataset(tmp_path / "exports", "synthetic", crop_to_fan=True)
    for (video, export), case_id in zip(made, reader.case_ids(), strict=True):
        sample = reader.load(case_id)
        t, h, w = sample.video.shape
        assert h == w and h < export.gray.shape[1] and t == export.gray.shape[0]
        assert sample.spacing_mm == pytest.approx(export.spacing_mm)  # same resolution: spacing unchanged
        # The LV keeps its size in pixels and the outside (text, ECG) is blank.
        assert sample.masks[0].sum() == pytest.approx(export.masks[0].sum(), rel=0.02)
        assert sample.video.max(axis=0)[sample.video.std(axis=0) == 0].max() == 0
        assert sample.labels[0].shape == (h, w)
        assert reader.truth(case_id).ef == pytest.approx(video.truth.ef)  # reader extras still reachable

    write_synthetic(tmp_path / "plain", [generate_video(4, frames=16, size=64)])
    plain = open_dataset(tmp_path / "plain", "synthetic")
    cropped = open_dataset(tmp_path / "plain", "synthetic", crop_to_fan=True)
    case = plain.case_ids()[0]
    np.testing.assert_array_equal(cropped.load(case).video, plain.load(case).video)


def test_masks_go_through_the_same_window_as_the_video(tmp_path):
    video, export = _as_export_video(3)
    write_synthetic(tmp_path / "one", [video])
    sample = open_dataset(tmp_path / "one", "synthetic", crop_to_fan=True).load(video.sample.case_id)
    # Where the LV is dark in the canvas it is dark in the crop: locate the mask in the crop by the video.
    lv_canvas = export.gray[:, export.masks[0]].mean()
    lv_crop = sample.video[:, sample.masks[0]].mean()
    assert lv_crop == pytest.approx(lv_canvas, abs=3)
