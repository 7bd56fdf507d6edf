"""EchoNet-Dynamic reader on tiny files we write ourselves in the real format."""

import math

import cv2
import numpy as np
import pytest

from echoseg.data.files import read_video_frames
from echoseg.data.readers import open_dataset
from echoseg.data.readers.echonet import EchoNetReader, tracing_mask, tracing_volume
from echoseg.errors import DataError
from readers_fixtures import echonet_frames, lv_mask, write_avi, write_echonet

N = 12  # frames per video: ED at 0, ES at 6 (see readers_fixtures.lv_mask)


def _dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture
def two_orders(tmp_path):
    """'first' lists ED then ES; 'second' lists ES then ED (echonet/dynamic's convention)."""
    cases = [
        {"name": "0XFIRST", "n_frames": N, "traced": [0, N // 2], "split": "TRAIN", "ef": 61.5, "fps": 50.0},
        {"name": "0XSECOND", "n_frames": N, "traced": [N // 2, 0], "split": "VAL", "fps": 53.0},
    ]
    write_echonet(tmp_path, cases)
    return tmp_path


@pytest.mark.parametrize("with_avi_suffix", [False, True])
def test_filename_with_and_without_avi(tmp_path, with_avi_suffix):
    write_echonet(tmp_path, [{"name": "0XABC", "n_frames": N, "traced": [0, N // 2], "split": "TEST", "ef": 44.0}],
                  with_avi_suffix=with_avi_suffix)
    reader = open_dataset(tmp_path, "echonet")
    (record,) = reader.records()
    assert (record.case_id, record.patient_id, record.split) == ("0XABC", "0XABC", "test")
    assert (record.ef, record.n_frames, record.fps) == (44.0, N, 50.0)
    assert reader.problems == []
    sample = reader.load("0XABC")
    assert sample.video.shape == (N, 112, 112) and sample.video.dtype == np.uint8
    assert reader.load("0XABC.avi").case_id == "0XABC"


def test_ed_is_larger_traced_frame_whatever_the_listing_order(two_orders):
    reader = EchoNetReader(two_orders)
    assert [r.split for r in reader.records()] == ["train", "val"]
    for case_id in ("0XFIRST", "0XSECOND"):
        sample = reader.load(case_id)
        assert (sample.ed, sample.es) == (0, N // 2)
        assert sample.annotated_frames == [0, N // 2]
        assert sample.masks[0].sum() > sample.masks[N // 2].sum()
        assert sample.spacing_mm is None and sample.split in ("train", "val")
        # masks rebuilt from the 21 rows match the ellipse the rows were measured on (0.977 / 0.971)
        assert _dice(sample.masks[0], lv_mask(0, N)) > 0.97
        assert _dice(sample.masks[N // 2], lv_mask(N // 2, N)) > 0.965
    assert reader.ed_listed_first == ["0XFIRST"]
    assert reader.ed_listed_last == ["0XSECOND"]
    assert reader.order_disagreements == ["0XFIRST"]
    assert reader.traced_ed_es("0XFIRST") == (0, N // 2)


def test_polygon_rebuilt_exactly(tmp_path):
    # long axis row, then 3 chords: side 1 at x = 4.6 -> 5, side 2 at x = 10.4 -> 10, y = 3, 6.5 -> 6 (half to even), 9
    rows = np.array([
        [7.5, 2.0, 7.5, 10.0],
        [4.6, 3.0, 10.4, 3.0],
        [4.6, 6.5, 10.4, 6.5],
        [4.6, 9.0, 10.4, 9.0],
    ])
    expected = np.zeros((14, 16), bool)
    expected[3:10, 5:11] = True  # fillPoly includes the boundary pixels
    assert np.array_equal(tracing_mask(rows, (14, 16)), expected)
    # a hand-made concave outline against cv2.fillPoly on the same rounded vertex list
    rows = np.array([[0, 0, 0, 0], [2.2, 2.0, 9.7, 2.0], [5.0, 5.4, 7.1, 5.4], [1.5, 8.5, 11.5, 8.5]])
    poly = np.array([[2, 2], [5, 5], [2, 8], [12, 8], [7, 5], [10, 2]], np.int32)  # side 1, then side 2 reversed
    canvas = np.zeros((12, 14), np.uint8)
    cv2.fillPoly(canvas, [poly.reshape(-1, 1, 2)], 1)
    assert np.array_equal(tracing_mask(rows, (12, 14)), canvas.astype(bool))


def test_grayscale_is_converted_from_three_different_channels(tmp_path):
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 60, 100, 180  # B, G, R
    write_avi(tmp_path / "c.avi", frames)
    video = read_video_frames(tmp_path / "c.avi").frames
    assert video.shape == (3, 32, 32) and video.dtype == np.uint8
    expected = 0.114 * 60 + 0.587 * 100 + 0.299 * 180  # 119.4; B alone 60, channel mean 113.3
    assert abs(float(video.mean()) - expected) < 2.5


def test_tracing_ef_is_the_disk_formula_on_the_rows(tmp_path):
    # ED: long axis 10, 20 chords of length 4; ES: long axis 8, 20 chords of length 2.
    ed_rows = np.array([[20, 10, 20, 20]] + [[18, 10.5 + i * 0.5, 22, 10.5 + i * 0.5] for i in range(20)], float)
    es_rows = np.array([[20, 11, 20, 19]] + [[19, 11.4 + i * 0.4, 21, 11.4 + i * 0.4] for i in range(20)], float)
    write_echonet(tmp_path, [{"name": "V", "n_frames": N, "traced": [5, 2], "rows": {5: es_rows, 2: ed_rows}}])
    reader = EchoNetReader(tmp_path)
    edv = math.pi / 4 * 20 * 4**2 * 10 / 20
    esv = math.pi / 4 * 20 * 2**2 * 8 / 20
    assert reader.traced_ed_es("V") == (2, 5)
    assert reader.tracing_volumes("V") == pytest.approx((edv, esv))
    assert reader.tracing_ef("V") == pytest.approx(100 * (edv - esv) / edv)  # 80 %
    # anisotropic spacing: horizontal chords scale with dx, the vertical axis with dy; volumes in ml
    spaced = EchoNetReader(tmp_path, spacing_mm=(0.5, 0.25))
    assert spaced.tracing_volumes("V")[0] == pytest.approx(math.pi / 4 * 20 * 1.0**2 * 5.0 / 20 / 1000)
    assert tracing_volume(ed_rows) == pytest.approx(edv)
    assert spaced.load("V").spacing_mm == (0.5, 0.25)


def test_videos_without_two_traced_frames_are_skipped_and_counted(tmp_path):
    write_echonet(tmp_path, [
        {"name": "GOOD", "n_frames": N, "traced": [0, N // 2]},
        {"name": "ONE", "n_frames": N, "traced": [0]},
        {"name": "NONE", "n_frames": N, "traced": []},
    ])
    reader = EchoNetReader(tmp_path)
    assert reader.case_ids() == ["GOOD"]
    assert sorted(reader.untraced) == ["NONE", "ONE"]
    assert {p.case_id for p in reader.problems} == {"NONE", "ONE"}
    with pytest.raises(DataError, match="ONE.*1 traced frame"):
        reader.load("ONE")
    unlabeled = EchoNetReader(tmp_path, include_untraced=True)
    assert unlabeled.case_ids() == ["GOOD", "ONE", "NONE"]
    sample = unlabeled.load("NONE")
    assert sample.masks == {} and sample.ed is None and sample.video.shape == (N, 112, 112)


def test_listing_never_decodes_video(two_orders, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("records() must not decode video")

    monkeypatch.setattr(cv2, "VideoCapture", forbidden)
    reader = EchoNetReader(two_orders)
    assert len(reader.records()) == 2 and reader.tracing_ef("0XFIRST") > 0


# --- bad input --------------------------------------------------------------------------------


def test_missing_filelist(tmp_path):
    (tmp_path / "Videos").mkdir()
    with pytest.raises(DataError, match="FileList.csv not found") as info:
        EchoNetReader(tmp_path).records()
    assert info.value.path.name == "FileList.csv"


def test_missing_columns_are_named(tmp_path):
    write_echonet(tmp_path, [{"name": "A", "n_frames": N, "traced": [0, 6]}],
                  filelist_columns=["FileName", "ESV", "EDV", "FPS", "NumberOfFrames"])
    with pytest.raises(DataError, match=r"FileList.csv: missing column\(s\) EF, Split"):
        EchoNetReader(tmp_path).records()


def test_tracings_for_unlisted_or_missing_videos_are_problems(tmp_path):
    write_echonet(tmp_path, [
        {"name": "GOOD", "n_frames": N, "traced": [0, 6]},
        {"name": "NOFILE", "n_frames": N, "traced": [0, 6], "write_video": False},
    ])
    with open(tmp_path / "VolumeTracings.csv", "a") as handle:
        handle.write("GHOST.avi,1,2,3,4,0\n")
    reader = EchoNetReader(tmp_path)
    assert reader.case_ids() == ["GOOD"]
    by_case = {p.case_id: p for p in reader.problems}
    assert "GHOST" in by_case["GHOST"].problem and by_case["GHOST"].path.endswith("VolumeTracings.csv")
    assert by_case["NOFILE"].path.endswith("NOFILE.avi") and "missing" in by_case["NOFILE"].problem
    with pytest.raises(DataError, match="NOFILE.avi"):
        reader.load("NOFILE")


def test_unreadable_truncated_and_empty_videos(tmp_path):
    write_echonet(tmp_path, [{"name": n, "n_frames": N, "traced": [0, 6]} for n in ("OK", "JUNK", "CUT", "ZERO")])
    videos = tmp_path / "Videos"
    (videos / "JUNK.avi").write_bytes(b"not a video" * 20)
    data = (videos / "OK.avi").read_bytes()
    (videos / "CUT.avi").write_bytes(data[: len(data) // 2])
    writer = cv2.VideoWriter(str(videos / "ZERO.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 50, (112, 112))
    writer.release()
    reader = EchoNetReader(tmp_path)
    assert reader.load("OK").n_frames == N
    for name, message in (("JUNK", "cannot open"), ("CUT", "truncated"), ("ZERO", "no decodable frames")):
        with pytest.raises(DataError, match=message) as info:
            reader.load(name)
        assert info.value.path == videos / f"{name}.avi"


def test_traced_frame_beyond_the_video(tmp_path):
    # listed beyond FileList's NumberOfFrames: a problem at listing; beyond the decoded frames: DataError at load
    write_echonet(tmp_path, [{"name": "FAR", "n_frames": N, "traced": [0, N + 3]},
                             {"name": "SHORT", "n_frames": N, "traced": [0, 6]}])
    write_avi(tmp_path / "Videos" / "SHORT.avi", echonet_frames(5))
    reader = EchoNetReader(tmp_path)
    assert reader.case_ids() == ["SHORT"]
    (far,) = [p for p in reader.problems if p.case_id == "FAR"]
    assert f"traced frame {N + 3} outside" in far.problem and far.path.endswith("VolumeTracings.csv")
    with pytest.raises(DataError, match="traced frame 6 is beyond the 5 frames"):
        reader.load("SHORT")


def test_unknown_split_skips_the_case_and_bad_numbers_are_problems(tmp_path):
    # issue 26: a case with Split `Testing` was trained on (no split counts as train); `train` is TRAIN.
    write_echonet(tmp_path, [{"name": "X", "n_frames": N, "traced": [0, 6], "split": "Testing"},
                             {"name": "Y", "n_frames": N, "traced": [0, 6], "split": "train", "ef": "n/a"}])
    reader = EchoNetReader(tmp_path)
    (record,) = reader.records()
    assert (record.case_id, record.split, record.ef) == ("Y", "train", None)
    skipped = reader.skipped_cases["X"]
    assert skipped.path.endswith("FileList.csv")
    assert "line 2: Split 'Testing' of X is not TRAIN, VAL or TEST" in skipped.problem
    assert "EF 'n/a' is not a number" in " | ".join(p.problem for p in reader.problems)


def test_equal_areas_still_give_two_different_frames(tmp_path):
    rows = np.array([[20, 10, 20, 20]] + [[18, 10.5 + i * 0.5, 22, 10.5 + i * 0.5] for i in range(20)], float)
    write_echonet(tmp_path, [{"name": "TIE", "n_frames": N, "traced": [7, 3], "rows": {7: rows, 3: rows}}])
    assert EchoNetReader(tmp_path).traced_ed_es("TIE") == (7, 3)  # listing order decides a tie
