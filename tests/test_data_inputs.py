"""Inputs of `echoseg predict` read back with the right frames, spacing and fps; bad ones name the file."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from echoseg.data.inputs import discover_inputs, read_video
from echoseg.errors import DataError
from inference_support import beating_video


def _write_cv2(path, video, fps=50.0, fourcc="MJPG", colour=None):
    t, h, w = video.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for frame in video:
        bgr = np.repeat(frame[..., None], 3, axis=-1)
        if colour is not None:
            bgr = np.clip(bgr.astype(int) + np.array(colour), 0, 255).astype(np.uint8)
        writer.write(bgr)
    writer.release()
    return path


def write_dicom(path, video, *, region_spacing_cm=None, pixel_spacing=None, rgb=False, frame_time_ms=20.0,
                with_pixels=True, photometric="RGB"):
    """A multi-frame ultrasound DICOM written with pydicom (explicit VR little endian, uncompressed)."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    t, h, w = video.shape
    ds.Rows, ds.Columns, ds.NumberOfFrames = h, w, t
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = frame_time_ms
    if region_spacing_cm is not None:
        region = pydicom.Dataset()
        region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 3, 3
        region.PhysicalDeltaY, region.PhysicalDeltaX = region_spacing_cm
        ds.SequenceOfUltrasoundRegions = pydicom.Sequence([region])
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if rgb:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
        pixels = np.repeat(video[..., None], 3, axis=-1)
        if photometric == "YBR_FULL":  # gray in YCbCr: Y = gray, Cb = Cr = 128
            pixels[..., 1:] = 128
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        pixels = video
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def clip():
    video, _, _, _ = beating_video(frames=12, size=(48, 64), seed=3)
    return video


def test_avi_and_mp4_read_back(tmp_path, clip):
    avi = read_video(_write_cv2(tmp_path / "a.avi", clip, fps=49.0))
    assert avi.frames.shape == clip.shape and avi.frames.dtype == np.uint8
    assert avi.fps == pytest.approx(49.0) and avi.spacing_mm is None and avi.notes == []
    assert np.abs(avi.frames.astype(int) - clip).mean() < 6  # MJPG is lossy
    mp4 = read_video(_write_cv2(tmp_path / "b.mp4", clip, fourcc="mp4v"))
    assert mp4.frames.shape == clip.shape and np.abs(mp4.frames.astype(int) - clip).mean() < 10


def test_colour_video_is_converted_with_a_note(tmp_path, clip):
    video = read_video(_write_cv2(tmp_path / "c.avi", clip, colour=(0, 0, 60)))  # reddish tint
    assert video.frames.ndim == 3 and "colour frames converted to grayscale" in video.notes


def test_nifti_axis_order_and_anisotropic_spacing(tmp_path, clip):
    import nibabel as nib

    img = nib.Nifti1Image(clip.transpose(2, 1, 0), np.diag([0.3, 0.5, 1, 1]))  # (x, y, t), dx 0.3, dy 0.5
    img.header.set_zooms((0.3, 0.5, 0.04))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, tmp_path / "v.nii.gz")
    video = read_video(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(video.frames, clip)
    assert video.spacing_mm == pytest.approx((0.5, 0.3)) and video.fps == pytest.approx(25.0)


def test_nifti_with_pixdim_zero_has_unknown_spacing_not_one_millimetre(tmp_path, clip):
    # issue 26, item 8: nibabel replaces a stored pixdim 0 by 1.0, so volumes came out in ml of 1 mm pixels
    import nibabel as nib

    img = nib.Nifti1Image(clip.transpose(2, 1, 0), np.eye(4))
    img.header["pixdim"][1:4] = 0
    nib.save(img, tmp_path / "p0.nii.gz")
    assert read_video(tmp_path / "p0.nii.gz").spacing_mm is None


def test_float_nifti_is_rescaled_with_a_note(tmp_path, clip):
    import nibabel as nib

    data = clip.astype(np.float32) * 4.0 - 100.0  # e.g. a processed export in arbitrary units
    nib.save(nib.Nifti1Image(data.transpose(2, 1, 0), np.eye(4)), tmp_path / "f.nii")
    video = read_video(tmp_path / "f.nii")
    expected = np.rint((data - data.min()) * 255.0 / (data.max() - data.min()))
    assert np.abs(video.frames.astype(int) - expected).max() <= 1
    assert video.notes and "rescaled to 0..255" in video.notes[0]


def test_metaimage_spacing_is_reported_xy(tmp_path, clip):
    sitk = pytest.importorskip("SimpleITK")
    img = sitk.GetImageFromArray(clip)  # array (t, y, x)
    img.SetSpacing((0.3, 0.5, 1.0))  # (x, y, t)
    sitk.WriteImage(img, str(tmp_path / "v.mhd"))
    video = read_video(tmp_path / "v.mhd")
    np.testing.assert_array_equal(video.frames, clip)
    assert video.spacing_mm == pytest.approx((0.5, 0.3))


def test_dicom_ultrasound_regions_give_spacing_in_mm(tmp_path, clip):
    path = write_dicom(tmp_path / "cine.dcm", clip, region_spacing_cm=(0.05, 0.03), pixel_spacing=(9.0, 9.0))
    video = read_video(path)
    np.testing.assert_array_equal(video.frames, clip)
    assert video.spacing_mm == pytest.approx((0.5, 0.3))  # regions win over PixelSpacing
    assert video.fps == pytest.approx(50.0)


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_dicom_pixel_spacing_fallback_colour_and_no_extension(tmp_path, clip, photometric):
    path = write_dicom(tmp_path / "IM0001", clip, pixel_spacing=(0.4, 0.2), rgb=True, photometric=photometric)
    video = read_video(path)
    assert video.frames.shape == clip.shape and np.abs(video.frames.astype(int) - clip).max() <= 1
    assert video.spacing_mm == pytest.approx((0.4, 0.2)) and any(photometric in n for n in video.notes)
    assert [item.path.name for item in discover_inputs([tmp_path])] == ["IM0001"]


def test_bad_inputs_raise_data_error_naming_the_file(tmp_path, clip):
    no_pixels = write_dicom(tmp_path / "empty.dcm", clip, with_pixels=False)
    with pytest.raises(DataError, match="empty.dcm: DICOM without pixel data"):
        read_video(no_pixels)
    (tmp_path / "zero.avi").write_bytes(b"")
    with pytest.raises(DataError, match="zero.avi"):
        read_video(tmp_path / "zero.avi")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 50)
    with pytest.raises(DataError, match="junk.mp4"):
        read_video(tmp_path / "junk.mp4")
    good = _write_cv2(tmp_path / "long.avi", np.repeat(clip, 4, axis=0))
    data = good.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.avi: truncated video: header says 48 frames"):
        read_video(tmp_path / "cut.avi")
    with pytest.raises(DataError, match="unsupported input type .txt"):
        (tmp_path / "notes.txt").write_text("x")
        read_video(tmp_path / "notes.txt")


def test_discovery_recurses_filelists_and_names_are_unique(tmp_path, clip):
    (tmp_path / "a" / "x").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    _write_cv2(tmp_path / "a" / "x" / "v1.avi", clip)
    _write_cv2(tmp_path / "b" / "v1.avi", clip)
    (tmp_path / "b" / "readme.txt").write_text("not an input")
    items = discover_inputs([tmp_path, tmp_path / "b" / "v1.avi"])
    assert [i.name for i in items] == ["a__x__v1", "b__v1"]  # the repeated file is listed once

    echonet = tmp_path / "echonet"
    (echonet / "Videos").mkdir(parents=True)
    _write_cv2(echonet / "Videos" / "0X1.avi", clip)
    _write_cv2(echonet / "Videos" / "0X2.avi", clip)
    with open(echonet / "FileList.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"])
        w.writerow(["0X1", 60, 1, 2, 48, 64, 51, 12, "TEST"])  # current release: no .avi
        w.writerow(["0X2.avi", 60, 1, 2, 48, 64, 52, 12, "TRAIN"])  # older release: with .avi
    items = discover_inputs([echonet / "FileList.csv"])
    assert [(i.name, i.fps_hint) for i in items] == [("0X1", 51.0), ("0X2", 52.0)]
    with pytest.raises(DataError, match="input not found"):
        discover_inputs([tmp_path / "missing"])
