"""CAMUS reader, NIfTI and MetaImage releases, on tiny anisotropic files we write ourselves."""

import sys

import numpy as np
import pytest

from echoseg.data.readers import open_dataset
from echoseg.data.readers.camus import CamusReader
from echoseg.errors import DataError
from readers_fixtures import (
    CAMUS_SHAPE,
    CAMUS_SPACING,
    camus_case,
    write_camus_mhd_patient,
    write_camus_nifti_patient,
    write_cfg,
    write_nifti,
    write_split_lists,
)

T = 5


def _check_ed_to_es(sample, video, labels):
    """The sample equals the ED->ES truth: same pixels, same label maps, masks on every frame."""
    assert sample.video.shape == (T, *CAMUS_SHAPE) and sample.video.dtype == np.uint8
    assert np.array_equal(sample.video, video)
    assert (sample.ed, sample.es) == (0, T - 1)
    assert sample.annotated_frames == list(range(T))
    for t in range(T):
        assert np.array_equal(sample.labels[t], labels[t])
        assert np.array_equal(sample.masks[t], labels[t] == 1)
    assert sample.spacing_mm == pytest.approx(CAMUS_SPACING)  # (dy, dx), anisotropic


@pytest.fixture
def nifti_root(tmp_path):
    video, labels = camus_case(T)
    write_camus_nifti_patient(tmp_path, "patient0001", "2CH", video, labels)
    write_camus_nifti_patient(tmp_path, "patient0001", "4CH", video, labels, reversed_storage=True, ef=48.0)
    write_camus_nifti_patient(tmp_path, "patient0002", "4CH", video, labels, half_sequence=False)
    write_split_lists(tmp_path, {"training": ["patient0001"], "testing": ["patient0002"]})
    return tmp_path, video, labels


def test_nifti_release_listing_and_splits(nifti_root):
    root, _, _ = nifti_root
    reader = open_dataset(root, "camus")
    records = reader.records()
    assert reader.release == "nifti"
    assert [r.case_id for r in records] == ["patient0001_2CH", "patient0001_4CH", "patient0002_4CH"]
    assert [(r.patient_id, r.view, r.split) for r in records] == [
        ("patient0001", "2CH", "train"), ("patient0001", "4CH", "train"), ("patient0002", "4CH", "test")]
    assert (records[1].ef, records[1].fps, records[1].n_frames) == (48.0, 25.0, T)
    assert reader.reversed_cases == ["patient0001_4CH"]
    assert reader.problems == []
    assert CamusReader(root, views=["4ch"]).case_ids() == ["patient0001_4CH", "patient0002_4CH"]


def test_nifti_half_sequence_axes_spacing_and_labels(nifti_root):
    root, video, labels = nifti_root
    _check_ed_to_es(CamusReader(root).load("patient0001_2CH"), video, labels)


def test_nifti_sequence_stored_es_to_ed_is_reversed(nifti_root):
    root, video, labels = nifti_root
    _check_ed_to_es(CamusReader(root).load("patient0001_4CH"), video, labels)


def test_nifti_without_sequence_gives_two_frame_video(nifti_root):
    root, video, labels = nifti_root
    sample = CamusReader(root).load("patient0002_4CH")
    assert np.array_equal(sample.video, video[[0, -1]])
    assert (sample.ed, sample.es) == (0, 1) and sample.annotated_frames == [0, 1]
    assert np.array_equal(sample.masks[1], labels[-1] == 1)
    assert sample.spacing_mm == pytest.approx(CAMUS_SPACING)


def test_metaimage_release_axes_spacing_splits_and_orientation(tmp_path):
    video, labels = camus_case(T)
    write_camus_mhd_patient(tmp_path, "training", "patient0003", "2CH", video, labels)
    write_camus_mhd_patient(tmp_path, "testing", "patient0004", "4CH", video, labels, reversed_storage=True)
    reader = CamusReader(tmp_path)
    records = reader.records()
    assert reader.release == "mhd"
    assert [(r.case_id, r.split, r.ef, r.edv, r.esv) for r in records] == [
        ("patient0003_2CH", "train", 50.0, 120.0, 60.0), ("patient0004_4CH", "test", 50.0, 120.0, 60.0)]
    for case_id in ("patient0003_2CH", "patient0004_4CH"):
        sample = reader.load(case_id)
        assert sample.video.shape == (T, *CAMUS_SHAPE)
        assert np.array_equal(sample.video, video), case_id
        assert sample.spacing_mm == pytest.approx(CAMUS_SPACING)
        assert (sample.ed, sample.es) == (0, T - 1)
        assert sample.annotated_frames == [0, T - 1]  # gt only on ED and ES in this release
        assert np.array_equal(sample.masks[0], labels[0] == 1)
        assert np.array_equal(sample.labels[T - 1], labels[-1])


def test_metaimage_without_simpleitk_says_what_to_install(tmp_path, monkeypatch):
    video, labels = camus_case(T)
    write_camus_mhd_patient(tmp_path, "training", "patient0005", "2CH", video, labels)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import now raises ImportError
    with pytest.raises(DataError, match=r"install echoseg\[mhd\]") as info:
        CamusReader(tmp_path).load("patient0005_2CH")
    assert info.value.path.name == "patient0005_2CH_sequence.mhd"


def test_cfg_without_ed_es(nifti_root):
    root, _, _ = nifti_root
    cfg = root / "database_nifti" / "patient0002" / "Info_4CH.cfg"
    write_cfg(cfg, {"NbFrame": 2, "EF": 50})
    reader = CamusReader(root)
    assert "patient0002_4CH" not in reader.case_ids()
    (problem,) = reader.problems
    assert problem.path == str(cfg) and "no ED or ES entry" in problem.problem
    with pytest.raises(DataError, match="Info_4CH.cfg"):
        reader.load("patient0002_4CH")


def test_gt_of_the_wrong_shape(nifti_root):
    root, _, labels = nifti_root
    folder = root / "database_nifti" / "patient0001"
    write_nifti(folder / "patient0001_2CH_half_sequence_gt.nii.gz", labels[:, :, :-2])
    write_nifti(folder / "patient0002_placeholder.nii.gz", labels[0])  # unrelated file is ignored
    with pytest.raises(DataError, match="gt shape") as info:
        CamusReader(root).load("patient0001_2CH")
    assert info.value.path.name == "patient0001_2CH_half_sequence_gt.nii.gz"
    write_nifti(root / "database_nifti" / "patient0002" / "patient0002_4CH_ES_gt.nii.gz", labels[0, :-1])
    with pytest.raises(DataError, match="patient0002_4CH_ES_gt.nii.gz: gt shape"):
        CamusReader(root).load("patient0002_4CH")


def test_labels_outside_0_to_3_and_bad_ed_es(nifti_root):
    root, _, labels = nifti_root
    folder = root / "database_nifti" / "patient0001"
    write_nifti(folder / "patient0001_2CH_half_sequence_gt.nii.gz", labels * 2)
    with pytest.raises(DataError, match="labels must be 0..3"):
        CamusReader(root).load("patient0001_2CH")
    write_cfg(folder / "Info_4CH.cfg", {"ED": 9, "ES": 1, "NbFrame": T})
    with pytest.raises(DataError, match="Info_4CH.cfg: ED 9 beyond the 5 frames"):
        CamusReader(root).load("patient0001_4CH")


def test_no_camus_layout(tmp_path):
    with pytest.raises(DataError, match="no CAMUS layout"):
        CamusReader(tmp_path).records()


def test_cfg_order_contradicted_by_the_masks_is_reported(tmp_path):
    video, labels = camus_case(T)
    folder = write_camus_nifti_patient(tmp_path, "patient0006", "2CH", video, labels)
    write_cfg(folder / "Info_2CH.cfg", {"ED": T, "ES": 1, "NbFrame": T})  # claims ES->ED, images are ED->ES
    reader = CamusReader(tmp_path)
    sample = reader.load("patient0006_2CH")
    assert np.array_equal(sample.video, video[::-1])  # the cfg is followed...
    (problem,) = reader.problems  # ...and the contradiction reported
    assert problem.case_id == "patient0006_2CH" and "ED mask" in problem.problem and "smaller than ES" in problem.problem
