"""Synthetic generator, its writers and the native reader: determinism, truth consistency, round trips."""

from __future__ import annotations

import csv
from functools import cache

import cv2
import nibabel as nib
import numpy as np
import pytest

from echoseg.data.readers import open_dataset
from echoseg.data.synthetic import (
    assign_splits,
    generate_dataset,
    generate_video,
    true_biplane_ef,
    write_camus,
    write_echonet,
    write_synthetic,
)
from echoseg.errors import DataError
from echoseg.geometry.disks import ejection_fraction, monoplane_volume


@cache
def video(seed: int, frames: int = 32, size: int = 112, difficulty: str = "medium", spacing=None):
    return generate_video(seed, frames=frames, size=size, difficulty=difficulty, spacing_mm=spacing)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def rebuild_mask(rows: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """EchoNet's rule: polygon of (X1[1:], Y1[1:]) then reversed (X2[1:], Y2[1:]), rounded, filled."""
    x1, y1, x2, y2 = (np.array([float(r[k]) for r in rows]) for k in ("X1", "Y1", "X2", "Y2"))
    points = np.concatenate([np.stack([x1[1:], y1[1:]], 1), np.stack([x2[1:], y2[1:]], 1)[::-1]])
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.rint(points).astype(np.int32)], 1)
    return mask.astype(bool)


# --- generator ---------------------------------------------------------------------------------------

def test_same_seed_same_video_other_seed_differs():
    a = generate_video(3, frames=16, size=64)
    b = generate_video(3, frames=16, size=64)
    c = generate_video(4, frames=16, size=64)
    assert np.array_equal(a.sample.video, b.sample.video)
    assert all(np.array_equal(a.sample.masks[i], b.sample.masks[i]) for i in range(16))
    assert a.truth.ef == b.truth.ef and a.truth.ed_frames == b.truth.ed_frames
    assert not np.array_equal(a.sample.video, c.sample.video)


def test_dataset_is_deterministic_with_splits_and_patients():
    first = generate_dataset(5, 11, frames=16, size=48, split_fractions=(0.6, 0.2, 0.2))
    second = generate_dataset(5, 11, frames=16, size=48, split_fractions=(0.6, 0.2, 0.2))
    assert [v.sample.case_id for v in first] == [v.sample.case_id for v in second]
    assert all(np.array_equal(a.sample.video, b.sample.video) for a, b in zip(first, second, strict=True))
    assert sorted(v.sample.split for v in first) == ["test", "train", "train", "train", "val"]
    assert len({v.sample.patient_id for v in first}) == 5
    assert len({v.sample.case_id for v in first}) == 5


def test_assign_splits_counts():
    splits = assign_splits(100, 0)
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (70, 15, 15)
    assert assign_splits(100, 0) == splits and assign_splits(100, 1) != splits


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="difficulty"):
        generate_video(0, difficulty="extreme")
    with pytest.raises(ValueError, match="frames"):
        generate_video(0, frames=8)


def test_masks_and_labels_on_every_frame():
    v = video(1)
    s = v.sample
    assert sorted(s.masks) == list(range(32)) and sorted(s.labels) == list(range(32))
    for i in range(32):
        assert s.masks[i].sum() > 200  # a real cavity at 112 px
        assert np.array_equal(s.masks[i], s.labels[i] == 1)
        assert set(np.unique(s.labels[i])) == {0, 1, 2, 3}
    assert s.view == "A4C" and s.spacing_mm is not None and s.fps > 0
    # The LV sits right of centre with its apex in the top part of the frame, as in EchoNet.
    ys, xs = np.nonzero(s.masks[s.ed])
    assert 40 < xs.mean() < 85 and ys.min() < 40


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_ed_es_are_volume_extremes(seed):
    v = video(seed, frames=64, size=48)
    t, vol = v.truth, v.truth.volumes
    assert t.ed_frames and t.es_frames
    for ed in t.ed_frames:
        assert vol[ed] >= vol[ed - 1] and vol[ed] >= vol[ed + 1]
    for es in t.es_frames:
        assert vol[es] <= vol[es - 1] and vol[es] <= vol[es + 1]
    events = sorted([(f, "ed") for f in t.ed_frames] + [(f, "es") for f in t.es_frames])
    assert all(a[1] != b[1] for a, b in zip(events, events[1:], strict=False))  # they alternate
    assert v.sample.ed == t.ed_frames[0] and v.sample.es == t.es_frames[0] > v.sample.ed
    assert t.ef == pytest.approx(ejection_fraction(vol[v.sample.ed], vol[v.sample.es]))


@pytest.mark.parametrize("seed,spacing", [(2, None), (6, None), (8, (1.0, 1.5))])
def test_truth_ef_matches_method_of_disks_on_masks(seed, spacing):
    v = video(seed, frames=32, size=112, spacing=spacing)
    s = v.sample
    edv = monoplane_volume(s.masks[s.ed], s.spacing_mm)
    esv = monoplane_volume(s.masks[s.es], s.spacing_mm)
    assert s.spacing_mm == (spacing or s.spacing_mm)
    assert ejection_fraction(edv, esv) == pytest.approx(v.truth.ef, abs=2.0)
    assert edv == pytest.approx(v.truth.volumes[s.ed], rel=0.08)


def test_ef_spans_the_clinical_range():
    efs = [generate_video(seed, frames=16, size=32).truth.ef for seed in range(40)]
    assert min(efs) < 35 and max(efs) > 60
    assert all(10 < ef < 80 for ef in efs)


def test_image_statistics_and_difficulty():
    contrasts = {}
    for difficulty in ("easy", "hard"):
        values = []
        for seed in range(3):
            s = video(seed, frames=16, size=112, difficulty=difficulty).sample
            frames = s.video.astype(float)
            labels = np.stack([s.labels[i] for i in range(16)])
            lv, wall = frames[labels == 1].mean(), frames[labels == 2].mean()
            assert lv < wall - 20  # dark blood pool, brighter myocardium
            values.append((wall - lv) / (frames[labels == 1].std() + frames[labels == 2].std()))
        contrasts[difficulty] = float(np.mean(values))
    assert contrasts["hard"] < 0.8 * contrasts["easy"]


def test_speckle_partly_decorrelates_between_frames():
    s = video(0, frames=16, size=112).sample
    a, b = s.video[4].astype(float), s.video[5].astype(float)
    fan = (a > 0) & (b > 0)
    corr = np.corrcoef(a[fan], b[fan])[0, 1]
    assert 0.3 < corr < 0.97


# --- writers -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_set():
    return generate_dataset(3, 21, frames=24, size=112)


@pytest.mark.parametrize("avi_suffix", [False, True])
def test_echonet_round_trip(tmp_path, small_set, avi_suffix):
    write_echonet(tmp_path, small_set, avi_suffix=avi_suffix)
    filelist = read_csv(tmp_path / "FileList.csv")
    assert list(filelist[0]) == ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS",
                                 "NumberOfFrames", "Split"]
    assert all(row["FileName"].endswith(".avi") == avi_suffix for row in filelist)
    assert {row["Split"] for row in filelist} <= {"TRAIN", "VAL", "TEST"}
    tracings = read_csv(tmp_path / "VolumeTracings.csv")
    ef_errors = []
    assert list(tracings[0]) == ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]
    for v, row in zip(small_set, filelist, strict=True):
        s = v.sample
        name = f"{s.case_id}.avi"
        rows = [r for r in tracings if r["FileName"] == name]
        frames = sorted({int(r["Frame"]) for r in rows})
        assert frames == sorted([s.ed, s.es]) and len(rows) == 42
        volumes = {}
        for frame in frames:
            frame_rows = [r for r in rows if int(r["Frame"]) == frame]
            assert len(frame_rows) == 21
            assert dice(rebuild_mask(frame_rows, s.video.shape[1:]), s.masks[frame]) >= 0.97
            xy = np.array([[float(r[k]) for k in ("X1", "Y1", "X2", "Y2")] for r in frame_rows])
            lengths = np.hypot(xy[:, 0] - xy[:, 2], xy[:, 1] - xy[:, 3])
            volumes[frame] = np.pi / 4 * np.sum(lengths[1:] ** 2) * lengths[0] / 20
        ef_errors.append(ejection_fraction(volumes[s.ed], volumes[s.es]) - float(row["EF"]))
        assert int(row["NumberOfFrames"]) == 24 and float(row["FPS"]) == s.fps

        capture = cv2.VideoCapture(str(tmp_path / "Videos" / name))
        decoded = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            decoded.append(frame)
        capture.release()
        assert len(decoded) == 24 and decoded[0].shape == (112, 112, 3)
        colour = decoded[s.ed].astype(int)
        assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 0.5  # channels differ slightly
        gray = cv2.cvtColor(decoded[s.ed], cv2.COLOR_BGR2GRAY).astype(int)
        assert np.abs(gray - s.video[s.ed]).mean() < 6  # MJPG is lossy but close
    # EF from the tracing rows themselves agrees with FileList (about 1 point on real files).
    assert np.abs(ef_errors).max() < 2.5 and abs(np.mean(ef_errors)) < 1.5


def test_camus_layout_axis_order_and_spacing(tmp_path):
    spacing = (1.1, 1.7)  # anisotropic (dy, dx): a transposed axis shows
    videos = [generate_video(s, frames=24, size=64, spacing_mm=spacing, case_id=f"c{s}") for s in (1, 2)]
    videos[0].sample.split, videos[1].sample.split = "train", "test"
    write_camus(tmp_path, videos, reverse_every=2, two_chamber=True)
    for number, v in enumerate(videos, start=1):
        s = v.sample
        folder = tmp_path / "database_nifti" / f"patient{number:04d}"
        stem = folder / f"patient{number:04d}_4CH"
        seq = nib.load(f"{stem}_half_sequence.nii.gz")
        gt = nib.load(f"{stem}_half_sequence_gt.nii.gz")
        n = s.es - s.ed + 1
        assert seq.shape == (64, 64, n)
        assert seq.header.get_zooms()[:2] == pytest.approx((spacing[1], spacing[0]))
        frames = np.transpose(np.asarray(seq.dataobj), (2, 1, 0))  # (x, y, t) -> (T, H, W)
        labels = np.transpose(np.asarray(gt.dataobj), (2, 1, 0))
        order = np.arange(s.ed, s.es + 1)[::-1] if number == 2 else np.arange(s.ed, s.es + 1)
        assert np.array_equal(frames, s.video[order])
        assert np.array_equal(labels, v.truth.labels[order])
        assert np.array_equal(np.asarray(nib.load(f"{stem}_ED.nii.gz").dataobj).T, s.video[s.ed])
        assert np.array_equal(np.asarray(nib.load(f"{stem}_ES_gt.nii.gz").dataobj).T == 1, s.masks[s.es])
        cfg = dict(line.split(": ", 1) for line in (folder / "Info_4CH.cfg").read_text().splitlines())
        assert int(cfg["NbFrame"]) == n
        assert (int(cfg["ED"]), int(cfg["ES"])) == ((n, 1) if number == 2 else (1, n))
        assert set(cfg) == {"ED", "ES", "NbFrame", "Sex", "Age", "ImageQuality", "EF", "FrameRate"}
        # The 2CH view: same heart, same ED/ES and length of half sequence, biplane EF in both cfgs.
        two = generate_video(v.truth.params["seed"], frames=24, size=64, spacing_mm=spacing, view="A2C")
        assert float(cfg["EF"]) == pytest.approx(true_biplane_ef(v, two), abs=0.05)
        assert abs(true_biplane_ef(v, two) - v.truth.ef) < 8
        cfg2 = dict(line.split(": ", 1) for line in (folder / "Info_2CH.cfg").read_text().splitlines())
        assert cfg2["EF"] == cfg["EF"] and cfg2["NbFrame"] == cfg["NbFrame"] and cfg2["ED"] == cfg["ED"]
        seq2 = np.transpose(np.asarray(nib.load(f"{folder / f'patient{number:04d}'}_2CH_half_sequence_gt.nii.gz").dataobj),
                            (2, 1, 0))
        assert np.array_equal(seq2, two.truth.labels[order])
        assert two.sample.view == "A2C" and (two.sample.ed, two.sample.es) == (s.ed, s.es)
    assert (tmp_path / "database_split" / "subgroup_training.txt").read_text() == "patient0001\n"
    assert (tmp_path / "database_split" / "subgroup_testing.txt").read_text() == "patient0002\n"
    assert (tmp_path / "database_split" / "subgroup_validation.txt").read_text() == ""


def test_synthetic_reader_round_trip(tmp_path, small_set):
    write_synthetic(tmp_path, small_set)
    reader = open_dataset(tmp_path, "synthetic")
    records = reader.records()
    assert [r.case_id for r in records] == [v.sample.case_id for v in small_set]
    for v in small_set:
        s = v.sample
        loaded = reader.load(s.case_id)
        assert np.array_equal(loaded.video, s.video)
        assert sorted(loaded.masks) == list(range(s.n_frames))
        assert all(np.array_equal(loaded.masks[i], s.masks[i]) for i in range(s.n_frames))
        assert all(np.array_equal(loaded.labels[i], s.labels[i]) for i in range(s.n_frames))
        assert (loaded.ed, loaded.es, loaded.split, loaded.patient_id) == (s.ed, s.es, s.split, s.patient_id)
        assert loaded.spacing_mm == s.spacing_mm and loaded.fps == s.fps and loaded.ef == s.ef
        truth = reader.truth(s.case_id)
        assert truth.ed_frames == v.truth.ed_frames and truth.es_frames == v.truth.es_frames
        assert np.array_equal(truth.volumes, v.truth.volumes) and np.array_equal(truth.apex, v.truth.apex)


def test_synthetic_reader_lists_lazily_and_names_bad_files(tmp_path, small_set):
    write_synthetic(tmp_path, small_set[:2])
    first, second = (v.sample.case_id for v in small_set[:2])
    (tmp_path / "cases" / f"{first}.npz").unlink()
    (tmp_path / "cases" / f"{second}.npz").write_bytes(b"not a zip")
    reader = open_dataset(tmp_path, "synthetic")
    assert len(reader.records()) == 2  # listing reads the table only
    with pytest.raises(DataError, match=f"{first}.npz: missing"):
        reader.load(first)
    with pytest.raises(DataError, match=f"{second}.npz: unreadable"):
        reader.load(second)
    with pytest.raises(DataError, match="no case"):
        reader.load("nope")
    with pytest.raises(DataError, match="cases.csv: missing"):
        open_dataset(tmp_path / "empty", "synthetic").records()
    (tmp_path / "cases.csv").write_text("case_id,split\nx,train\n")
    with pytest.raises(DataError, match="missing columns"):
        open_dataset(tmp_path, "synthetic").records()


def test_synth_command_writes_a_dataset(tmp_path):
    from echoseg.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["synth", str(tmp_path / "out"), "--format", "synthetic", "--videos", "2", "--frames", "16",
              "--size", "48", "--seed", "3"])
    assert exit_info.value.code == 0
    reader = open_dataset(tmp_path / "out", "synthetic")
    assert len(reader.records()) == 2 and reader.load(reader.case_ids()[0]).video.shape == (16, 48, 48)


def test_echonet_tracing_order_option(tmp_path):
    v = generate_video(4, frames=20, size=64, case_id="order")
    write_echonet(tmp_path, [v])  # EchoNet-Dynamic's order: ES first, ED (the larger) last
    frames = [int(r["Frame"]) for r in read_csv(tmp_path / "VolumeTracings.csv")]
    assert frames == [v.sample.es] * 21 + [v.sample.ed] * 21
    write_echonet(tmp_path, [v], es_first=False)
    frames = [int(r["Frame"]) for r in read_csv(tmp_path / "VolumeTracings.csv")]
    assert frames == [v.sample.ed] * 21 + [v.sample.es] * 21


@pytest.mark.slow
def test_echonet_tracings_rebuild_every_frame_of_many_videos(tmp_path):
    videos = generate_dataset(40, 5, frames=32, size=112, difficulty="hard")
    write_echonet(tmp_path, videos)
    tracings = read_csv(tmp_path / "VolumeTracings.csv")
    by_frame: dict[tuple[str, int], list[dict]] = {}
    for row in tracings:
        by_frame.setdefault((row["FileName"], int(row["Frame"])), []).append(row)
    for v in videos:
        for frame in (v.sample.ed, v.sample.es):
            rows = by_frame[(f"{v.sample.case_id}.avi", frame)]
            assert dice(rebuild_mask(rows, (112, 112)), v.sample.masks[frame]) >= 0.97


def test_long_videos_are_generated_in_chunks():
    # OpenCV 5 filters at most 128 channels per call: a 150-frame video must still come out whole.
    v = generate_video(1, frames=150, size=48)
    assert v.sample.video.shape == (150, 48, 48) and len(v.sample.masks) == 150
    assert v.sample.video[-1].std() > 5  # the last chunk has speckle like the first
