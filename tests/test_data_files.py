"""Shared file decoding (echoseg.data.files) on tiny files we write ourselves."""

import nibabel as nib
import numpy as np
import pytest

from echoseg.data.files import read_nifti, read_video_frames, to_uint8
from echoseg.errors import DataError
from readers_fixtures import write_avi


def test_video_reports_fps_and_real_colour_only(tmp_path):
    grey = np.full((3, 32, 32, 3), 90, np.uint8)
    write_avi(tmp_path / "grey.avi", grey)
    decoded = read_video_frames(tmp_path / "grey.avi")
    assert decoded.frames.shape == (3, 32, 32) and not decoded.colour and decoded.fps == pytest.approx(50.0)
    tinted = grey.copy()
    tinted[..., 2] = 180  # red channel far from the others: real colour, not MJPG noise
    write_avi(tmp_path / "tinted.avi", tinted)
    assert read_video_frames(tmp_path / "tinted.avi").colour


def test_nifti_with_singleton_z_axis_is_2d_plus_time(tmp_path):
    clip = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)  # (t, y, x)
    img = nib.Nifti1Image(clip.transpose(2, 1, 0)[:, :, None, :], np.diag([0.3, 0.5, 1.0, 1.0]))  # (x, y, 1, t)
    img.header.set_zooms((0.3, 0.5, 1.0, 20.0))
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, tmp_path / "v.nii.gz")
    image = read_nifti(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(image.array, clip)
    assert image.spacing_mm == pytest.approx((0.5, 0.3)) and image.fps == pytest.approx(50.0)


def test_to_uint8_casts_in_range_rescales_outside_and_refuses_nan(tmp_path):
    notes = []
    np.testing.assert_array_equal(to_uint8(np.array([0.4, 254.6]), "a.nii", notes), [0, 255])
    assert notes == []
    np.testing.assert_array_equal(to_uint8(np.array([-10.0, 0.0, 10.0]), "a.nii", notes), [0, 128, 255])
    assert notes == ["intensities -10..10 rescaled to 0..255"]
    with pytest.raises(DataError, match="b.nii: image has NaN"):
        to_uint8(np.array([1.0, np.nan]), "b.nii")
