"""issue 14: predict says what users need once, and nothing they do not (short videos, resizing, ffmpeg)."""

from __future__ import annotations

import csv
import logging

import pytest

from echoseg.inference.predict import PredictSettings, predict_videos
from echoseg.inference.segmenter import Segmenter
from inference_support import TinyDarkNet, beating_video, one_torch_thread  # noqa: F401
from test_data_inputs import _write_cv2

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter(TinyDarkNet(window=3).eval(), (32, 32), batch_size=8)


def _rows(path):
    with open(path, newline="") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def test_a_video_too_short_for_ed_es_says_why(tmp_path, segmenter):
    (tmp_path / "in").mkdir()
    for frames in (1, 2):
        _write_cv2(tmp_path / "in" / f"short{frames}.avi", beating_video(frames=frames, size=(32, 32))[0])
    predict_videos([tmp_path / "in"], segmenter, tmp_path / "out", PredictSettings(progress=False, overlay=False))
    rows = _rows(tmp_path / "out" / "summary.csv")
    for frames in (1, 2):
        row = rows[f"short{frames}"]
        assert row["status"] == "done" and row["ef_mean"] == ""
        assert f"too few frames ({frames}): no ED/ES or EF" in row["notes"]


def test_resizing_is_said_once_and_noted_per_video(tmp_path, segmenter, caplog):
    (tmp_path / "in").mkdir()
    for i in range(3):
        _write_cv2(tmp_path / "in" / f"v{i}.avi", beating_video(frames=10, size=(48, 40), seed=i)[0])
    with caplog.at_level(logging.INFO):
        predict_videos([tmp_path / "in"], segmenter, tmp_path / "out", PredictSettings(progress=False, overlay=False))
    shown = [r for r in caplog.records if r.levelno >= logging.INFO and "resized to the model's" in r.getMessage()]
    assert len(shown) == 1
    assert all("resized to the model's 32x32" in r["notes"] for r in _rows(tmp_path / "out" / "summary.csv").values())


def test_broken_videos_keep_ffmpeg_off_the_terminal(tmp_path, segmenter, capfd):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.mp4").write_bytes(b"\x00\x01" * 1500)
    (tmp_path / "in" / "broken.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x07" * 200)
    report = predict_videos([tmp_path / "in"], segmenter, tmp_path / "out", PredictSettings(progress=False, overlay=False))
    assert len(report.errors) == 2
    err = capfd.readouterr().err
    assert "moov atom" not in err and "Unexpected list type" not in err and "WARN" not in err, err


def test_the_stage_times_say_where_the_time_went():
    from echoseg.inference.predict import PredictReport

    report = PredictReport(frames=3653)
    report.seconds.update(decode=1.49, fan=0.31, model=13.59, analysis=5.9, write=0.45, total=14.08)
    text = report.stage_text()
    assert text.startswith("time per stage, summed over videos: model 13.6 s (269 frames/s), ")
    for part in ("fan crop 0.3 s", "decode 1.5 s", "analysis 5.9 s", "writing 0.5 s", "wall 14.1 s (259 frames/s)"):
        assert part in text, text
    assert "in background threads beside the model" in text
    assert "frames/s" not in PredictReport().stage_text()  # nothing segmented: no rate to divide by zero
