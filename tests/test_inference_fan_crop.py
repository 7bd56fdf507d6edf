"""predict on scanner exports: the fan is found, cropped and drawn, masks come back to the canvas, a video
without a fan is one error line while the batch goes on, and --no-crop resizes whole frames."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from echoseg.data.sector import FanGeometry, iou
from echoseg.data.synthetic import generate_video
from echoseg.data.synthetic.export import render_export
from echoseg.data.synthetic.export_files import write_export_avi, write_export_dicom
from echoseg.inference.predict import PredictSettings, predict_videos
from echoseg.inference.segmenter import Segmenter

SIZE = (64, 64)


class OracleSegmenter(Segmenter):
    """A stand-in model that returns the true LV of each export as the model would see it: the truth
    masks through the same view (crop window or whole-frame resize) predict chose."""

    def __init__(self, truths: dict[tuple, np.ndarray]):
        super().__init__(None, SIZE)
        self.truths = truths  # canvas shape -> truth masks (T, H, W)
        self.last_view = None

    def view(self, frames, **kwargs):
        self.last_view = super().view(frames, **kwargs)
        return self.last_view

    def model_probs(self, small):
        view = self.last_view
        if view.shape not in self.truths:  # a video without an LV: nothing to find
            return np.zeros(small.shape[:1] + SIZE, np.float32)
        truth = self.truths[view.shape]
        if view.crop is not None:
            return np.stack([view.crop.apply_mask(m) for m in truth]).astype(np.float32)
        from echoseg.data.resize import resize_probs

        return resize_probs(truth.astype(np.float32), SIZE)


def _dice(a, b):
    return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def exports():
    made = []
    for seed, canvas in ((11, (240, 320)), (12, (264, 352))):
        made.append(render_export(generate_video(seed, frames=16, size=80), seed, canvas=canvas))
    return made


def test_predict_crops_exports_and_maps_masks_back(tmp_path, exports):
    pytest.importorskip("pydicom", minversion="3.0")
    inputs = tmp_path / "in"
    write_export_avi(inputs / "scan_a.avi", exports[0])
    write_export_dicom(inputs / "scan_b.dcm", exports[1], "jpeg-baseline")
    nothing = np.zeros((16, 240, 320, 3), np.uint8)
    nothing[:, 10:20, 10:300] = 255  # only burned-in text: no fan
    write_export_avi(inputs / "blank.avi", type(exports[0])(**{**exports[0].__dict__, "rgb": nothing}))
    segmenter = OracleSegmenter({e.gray.shape[1:]: e.masks for e in exports})
    out = tmp_path / "out"
    report = predict_videos([inputs], segmenter, out, PredictSettings(progress=False))

    # A video without a fan is not an error (issue 22): its whole frame is segmented, and the summary says so.
    assert report.n_done == 3 and report.seconds["fan"] > 0
    assert _rows(out / "errors.csv") == []
    summary = {row["name"]: row for row in _rows(out / "summary.csv")}
    assert summary["blank"]["fan_crop"] == "no fan found"
    assert "no ultrasound fan found" in summary["blank"]["notes"] and "whole frame" in summary["blank"]["notes"]
    for name, export in (("scan_a", exports[0]), ("scan_b", exports[1])):
        assert summary[name]["fan_crop"] == "cropped" and "fan found" in summary[name]["notes"]
        masks = np.load(out / name / "masks.npz")["masks"]
        assert masks.shape == export.masks.shape  # the canvas's own pixels
        assert np.mean([_dice(p, t) for p, t in zip(masks, export.masks, strict=True)]) > 0.9
        result = json.loads((out / name / "result.json").read_text())
        fan = FanGeometry.from_dict(result["input_view"]["fan"])
        assert iou(fan.mask(), export.fan.mask()) > 0.95 and result["input_view"]["crop"]["input_size"] == [64, 64]
        assert (out / name / "overlay.mp4").is_file() or (out / name / "overlay.avi").is_file()
    # The DICOM's spacing (from its ultrasound region) applies to the areas unchanged: canvas pixels x spacing.
    frames = _rows(out / "scan_b" / "frames.csv")
    dy, dx = exports[1].spacing_mm
    masks = np.load(out / "scan_b" / "masks.npz")["masks"]
    assert float(frames[0]["area"]) == pytest.approx(masks[0].sum() * dy * dx, rel=1e-3)
    assert frames[0]["area_unit"] == "mm2"
    # The preview shows the fan's window, not the whole canvas.
    from PIL import Image

    with Image.open(out / "scan_a" / "preview.gif") as gif:
        assert gif.size[0] / gif.size[1] < exports[0].gray.shape[2] / exports[0].gray.shape[1]


def test_no_crop_resizes_whole_frames_and_is_recorded(tmp_path, exports):
    export = exports[0]
    write_export_avi(tmp_path / "in" / "scan.avi", export)
    segmenter = OracleSegmenter({export.gray.shape[1:]: export.masks})
    out = tmp_path / "out"
    predict_videos([tmp_path / "in"], segmenter, out, PredictSettings(progress=False, crop=False, overlay=False))
    row = _rows(out / "summary.csv")[0]
    assert row["fan_crop"] == "off" and row["notes"].startswith("--no-crop")
    assert np.load(out / "scan" / "masks.npz")["masks"].shape == export.masks.shape
    assert json.loads((out / "scan" / "result.json").read_text())["input_view"]["cropped"] is False


def test_a_folder_made_with_the_crop_refuses_a_run_without_it(tmp_path):
    from echoseg.errors import EchosegError
    from echoseg.inference.predict import start_run

    segmenter = OracleSegmenter({})
    start_run(tmp_path, segmenter, {"crop": True, "framing": "depth"})
    with pytest.raises(EchosegError, match="different crop"):
        start_run(tmp_path, segmenter, {"crop": False, "framing": "depth"})
    start_run(tmp_path, segmenter, {"crop": False, "framing": "depth"}, overwrite=True)
