"""issue 26 item 21: readers give the right reason for what is wrong with a file."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from echoseg.data.inputs import read_video
from echoseg.errors import DataError
from test_data_inputs import write_dicom


def _reason(path) -> str:
    with pytest.raises(DataError) as info:
        read_video(path)
    return str(info.value)


def test_a_device_is_not_a_regular_file_not_a_missing_one(tmp_path):
    assert "not a regular file" in _reason("/dev/null")
    assert "is a folder" in _reason(tmp_path)
    assert "file not found" in _reason(tmp_path / "missing.avi")


def test_an_empty_nifti_is_called_empty(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((0,), np.uint8), np.eye(4)), str(tmp_path / "empty.nii.gz"))
    reason = _reason(tmp_path / "empty.nii.gz")
    assert "empty NIfTI image: it holds no pixels" in reason and "(0,)" not in reason


def test_a_short_metaimage_raw_is_called_truncated_not_missing(tmp_path):
    pytest.importorskip("SimpleITK")
    from readers_fixtures import write_mhd

    write_mhd(tmp_path / "seq.mhd", np.random.default_rng(0).integers(0, 255, (5, 24, 16), dtype=np.uint8))
    raw = tmp_path / "seq.raw"
    raw.write_bytes(raw.read_bytes()[:100])
    reason = _reason(tmp_path / "seq.mhd")
    assert "holds 100 bytes, DimSize and ElementType need 1920 (truncated)" in reason
    assert "No such file" not in reason
    raw.unlink()
    assert "seq.raw (ElementDataFile) not found" in _reason(tmp_path / "seq.mhd")


def test_an_uncompressed_dicom_with_a_wrong_frame_count_names_the_count_not_a_decoder(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    path = Path(tmp_path / "wrong.dcm")
    write_dicom(path, np.random.default_rng(0).integers(0, 255, (6, 32, 32), dtype=np.uint8))
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 9
    ds.save_as(path)
    reason = _reason(path)
    assert "NumberOfFrames says 9 but the pixel data holds 6 frame(s) of 32x32" in reason
    assert "echoseg[dicom]" not in reason


def test_evaluate_all_with_no_cases_does_not_say_split_none(tmp_path):
    from echoseg.errors import EchosegError
    from echoseg.evaluation.evaluate import evaluate_model
    from evaluation_fakes import FakeReader, FakeSegmenter, perfect_predictor

    with pytest.raises(EchosegError) as info:
        evaluate_model(FakeSegmenter(perfect_predictor), FakeReader([]), split=None, progress=False)
    assert "None" not in str(info.value) and "none listed" in str(info.value)
    with pytest.raises(EchosegError, match="the test split has none"):
        evaluate_model(FakeSegmenter(perfect_predictor), FakeReader([]), split="test", progress=False)
