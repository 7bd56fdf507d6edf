"""Compressed and colour ultrasound DICOM (files we write) decode to the right grey, frame rate, spacing and region."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.data import files
from echoseg.data.inputs import read_video
from echoseg.data.synthetic import generate_video
from echoseg.data.synthetic.export import render_export
from echoseg.data.synthetic.export_files import (
    read_export_truth,
    write_export_avi,
    write_export_dataset,
    write_export_dicom,
)
from echoseg.errors import DataError

pydicom = pytest.importorskip("pydicom", minversion="3.0")

# Mean absolute grey error inside the fan allowed per syntax (lossy ones: JPEG quantisation).
TOLERANCE = {"explicit": 0, "explicit-ybr422": 0, "explicit-mono": 0, "rle": 0, "jpeg-lossless": 0,
             "jpeg2000-lossless": 0, "jpeg-baseline": 3.5, "jpeg2000": 4.5}
NEEDS = {"jpeg-lossless": "gdcm", "jpeg2000": "openjpeg", "jpeg2000-lossless": "openjpeg"}


@pytest.fixture(scope="module")
def export():
    return render_export(generate_video(3, frames=16, size=64), 3, canvas=(120, 160))


@pytest.mark.parametrize("syntax", list(TOLERANCE))
def test_each_transfer_syntax_decodes_to_the_canvas_grey(tmp_path, export, syntax):
    if syntax in NEEDS:
        pytest.importorskip(NEEDS[syntax])
    path = write_export_dicom(tmp_path / f"{syntax}.dcm", export, syntax)
    decoded = files.read_dicom(path)
    fan = export.fan.mask()
    error = np.abs(decoded.frames.astype(int) - export.gray)[:, fan]
    assert decoded.frames.shape == export.gray.shape and decoded.frames.dtype == np.uint8
    assert error.mean() <= TOLERANCE[syntax] and (TOLERANCE[syntax] or error.max() == 0)
    assert decoded.fps == pytest.approx(export.fps, rel=1e-3)
    assert decoded.spacing_mm == pytest.approx(export.spacing_mm)
    assert decoded.image_region.box == export.region
    if syntax != "explicit-mono":
        assert any("converted to grayscale" in note for note in decoded.notes)


@pytest.mark.parametrize("tag", ["FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate"])
def test_frame_rate_from_each_tag(tmp_path, export, tag):
    path = write_export_dicom(tmp_path / "cine.dcm", export, "explicit-mono", frame_rate_tag=tag)
    fps = files.read_dicom(path).fps
    # CineRate and RecommendedDisplayFrameRate are integers.
    assert fps == pytest.approx(export.fps, abs=0.51 if tag in ("CineRate", "RecommendedDisplayFrameRate") else 1e-3)


def test_ybr_422_grey_is_the_luma_whichever_decoder_runs(tmp_path, export):
    """JPEG baseline YBR_FULL_422, as scanners store colour cines: every installed decoder gives the
    same grey, and it is the luma (taking the decoder's output as RGB when it is YCbCr would not be)."""
    from pydicom.pixels import iter_pixels
    from pydicom.pixels.decoders import JPEGBaseline8BitDecoder

    path = write_export_dicom(tmp_path / "ybr.dcm", export, "jpeg-baseline")
    ours = files.read_dicom(path).frames
    plugins = [p for p in JPEGBaseline8BitDecoder.available_plugins]
    assert plugins
    for plugin in plugins:
        rgb = np.stack(list(iter_pixels(path, decoding_plugin=plugin)))
        luma = np.rint(rgb.astype(float) @ [0.299, 0.587, 0.114])
        assert np.abs(luma - ours).max() <= 1, plugin
    fan = export.fan.mask()
    raw = np.stack(list(iter_pixels(path, raw=True)))  # the stored colour space: Y, Cb, Cr
    assert np.abs(raw[..., 0].astype(int) - ours)[:, fan].max() <= 1  # gray ultrasound: grey = Y
    wrong = np.rint(raw.astype(float) @ [0.299, 0.587, 0.114])  # YCbCr taken for RGB
    assert np.abs(wrong - ours)[:, fan].mean() > 10


def test_read_video_keeps_the_region_for_detection(tmp_path, export):
    path = write_export_dicom(tmp_path / "cine.dcm", export, "explicit")
    video = read_video(path)
    assert video.region == export.region and video.spacing_mm == pytest.approx(export.spacing_mm)
    without = read_video(write_export_dicom(tmp_path / "bare.dcm", export, "explicit", regions=False))
    assert without.region is None and without.spacing_mm is None


def test_damaged_compressed_file_names_the_file_and_syntax(tmp_path, export):
    path = write_export_dicom(tmp_path / "cut.dcm", export, "jpeg-baseline")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = bytes(4000)  # the JPEG streams of the middle frames zeroed
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"cut.dcm: cannot decode DICOM pixel data \(JPEG Baseline"):
        files.read_dicom(path)


def test_avi_export_and_truth_round_trip(tmp_path, export):
    root = write_export_dataset(tmp_path / "exports", [export], kinds=("avi", "explicit-mono"))
    truth = read_export_truth(root / "truth" / f"{export.case_id}.npz")
    np.testing.assert_array_equal(truth["masks"], export.masks)
    assert truth["fan"].to_dict() == export.fan.to_dict() and truth["spacing_mm"] == pytest.approx(export.spacing_mm)
    video = read_video(root / f"{export.case_id}.avi")
    assert video.frames.shape == export.gray.shape
    assert np.abs(video.frames.astype(int) - export.gray)[:, export.fan.mask()].mean() < 4  # MJPG
    assert (root / "exports.csv").read_text().count("\n") == 3
    write_export_avi(tmp_path / "again.avi", export)


def test_synth_cli_writes_scanner_exports(tmp_path):
    from echoseg.cli import main

    with pytest.raises(SystemExit) as done:
        main(["synth", str(tmp_path / "x"), "--format", "scanner-export", "--videos", "1", "--frames", "16",
              "--size", "48", "--export-kinds", "avi,explicit-mono"])
    assert done.value.code == 0
    rows = (tmp_path / "x" / "exports.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[2] == "avi" and rows[2].split(",")[2] == "explicit-mono"
    truth = read_export_truth(next((tmp_path / "x" / "truth").glob("*.npz")))
    assert read_video(tmp_path / "x" / rows[2].split(",")[1]).frames.shape == truth["masks"].shape
