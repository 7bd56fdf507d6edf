"""issue 26 items 5 and 8: predicted masks keep the input NIfTI's orientation, and a pixdim of 0 is
an unknown pixel size, not nibabel's 1.0 mm."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from echoseg.data.inputs import read_video
from echoseg.inference.predict import PredictSettings, predict_videos
from echoseg.inference.segmenter import Segmenter
from inference_support import TinyDarkNet, beating_video, one_torch_thread, register_tiny_model  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = (32, 32)


def _save(path, video_thw, affine, zooms):
    image = nib.Nifti1Image(np.ascontiguousarray(video_thw.transpose(2, 1, 0)), affine)
    image.header.set_zooms(zooms)
    image.header.set_xyzt_units("mm", "sec")
    nib.save(image, str(path))


def test_masks_nifti_keeps_a_rotated_and_flipped_input_affine(tmp_path):
    register_tiny_model()
    video = beating_video(frames=12, size=(40, 48), seed=0)[0]
    # x flipped, x and y swapped in world space (a 90 degree rotation), 0.4 x 0.3 mm pixels, an offset
    affine = np.array([[0.0, -0.3, 0.0, 12.0], [-0.4, 0.0, 0.0, 7.0], [0.0, 0.0, 1.0, -3.0], [0.0, 0.0, 0.0, 1.0]])
    _save(tmp_path / "in.nii.gz", video, affine, (0.4, 0.3, 0.02))
    out = tmp_path / "out"
    report = predict_videos([tmp_path / "in.nii.gz"], Segmenter(TinyDarkNet(window=3).eval(), SIZE, batch_size=8),
                            out, PredictSettings(progress=False))
    assert report.n_done == 1
    written = nib.load(str(out / "in" / "masks.nii.gz"))
    np.testing.assert_allclose(written.affine, affine, atol=1e-6)
    assert written.shape == (48, 40, 12)
    assert written.header.get_zooms() == pytest.approx((0.4, 0.3, 0.02))


def test_pixdim_zero_is_an_unknown_spacing_with_a_note(tmp_path, capfd):
    video = beating_video(frames=6, size=(20, 16), seed=1)[0]
    image = nib.Nifti1Image(np.ascontiguousarray(video.transpose(2, 1, 0)), None)
    image.header["pixdim"][1:4] = 0  # what some exporters write: no pixel size
    nib.save(image, str(tmp_path / "zero.nii.gz"))
    read = read_video(tmp_path / "zero.nii.gz")
    assert read.spacing_mm is None  # nibabel alone says 1.0 mm, which made volumes come out in ml
    assert any("no pixel size" in note for note in read.notes)
    assert "pixdim" not in capfd.readouterr().err  # nibabel's own message stays off the terminal
