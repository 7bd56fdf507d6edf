"""issue 26, items 6, 13 and 22: echoseg's own outputs inside an input folder or a dataset (written by
an older version, or moved there) are neither videos to predict on nor part of the dataset's
identity; links in an input folder are followed, or skipped with a line saying why."""

from __future__ import annotations

import json
import logging
import os

import pytest

from echoseg.data.identity import dataset_identity, echoseg_output
from echoseg.data.inputs import discover_inputs
from inference_support import beating_video
from test_data_inputs import _write_cv2


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        _write_cv2(folder / f"v{i}.avi", beating_video(frames=8, size=(32, 32), period=4, phase=1, seed=i)[0])
    return folder


def _older_predict_run(folder, video):
    """What `echoseg predict ... --out folder` wrote: run.json, and per video done.json beside overlay.mp4."""
    (folder / "v0").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"echoseg": "0.1.0", "model": "sscf"}))
    (folder / "summary.csv").write_text("name,input\n")
    (folder / "v0" / "done.json").write_text(json.dumps({"finished": "2026-01-01", "input": str(video)}))
    (folder / "v0" / "overlay.mp4").write_bytes(video.read_bytes())
    (folder / "v0" / "frames.csv").write_text("frame,area\n")


def test_predict_does_not_take_its_own_overlays_for_videos(videos, caplog):
    _older_predict_run(videos / "pred", videos / "v0.avi")
    caplog.set_level(logging.INFO)
    items = discover_inputs([videos])
    assert [item.path.name for item in items] == ["v0.avi", "v1.avi"]
    assert [item.name for item in items] == ["v0", "v1"]
    assert "holds a predict run of echoseg's" in caplog.text and str(videos / "pred") in caplog.text


def test_a_video_folder_of_ours_is_skipped_even_without_its_run(videos):
    _older_predict_run(videos / "pred", videos / "v0.avi")
    (videos / "pred" / "run.json").unlink()  # only the per-video folder says it is ours
    assert [item.path.name for item in discover_inputs([videos])] == ["v0.avi", "v1.avi"]


def test_a_run_json_of_another_tool_hides_nothing(videos):
    other = videos / "study"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"tool": "scanner"}))
    (other / "clip.avi").write_bytes((videos / "v1.avi").read_bytes())
    assert echoseg_output(other) is None
    assert [item.name for item in discover_inputs([videos])] == ["study__clip", "v0", "v1"]


def test_outputs_inside_a_dataset_leave_its_fingerprint_alone(videos):
    before = dataset_identity(videos, "echonet")
    _older_predict_run(videos / "pred", videos / "v0.avi")
    run = videos / "runs" / "train"  # a training run, and an evaluation, an older version wrote inside
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("optim: {steps: 1}\n")
    (run / "dataset.json").write_text(json.dumps({"fingerprint": before["fingerprint"]}))
    (videos / "eval").mkdir()
    (videos / "eval" / "metrics.json").write_text("{}")
    (videos / "eval" / "report.html").write_text("<html></html>")
    after = dataset_identity(videos, "echonet")
    assert after["fingerprint"] == before["fingerprint"] and after["files"] == before["files"] == 2
    (videos / "notes.txt").write_text("a file that is not ours still changes the dataset")
    assert dataset_identity(videos, "echonet")["fingerprint"] != before["fingerprint"]


def test_a_linked_video_keeps_its_real_name(videos, caplog):
    os.symlink(videos / "v1.avi", videos / "a_link.avi")  # sorts before the file it points to
    caplog.set_level(logging.INFO)
    items = discover_inputs([videos])
    assert [(item.name, item.path.name) for item in items] == [("v0", "v0.avi"), ("v1", "v1.avi")]
    assert f"{videos / 'a_link.avi'}: the same file as {videos / 'v1.avi'}" in caplog.text


def test_a_link_alone_is_predicted_under_the_links_name(videos, tmp_path):
    elsewhere, other = tmp_path / "elsewhere", tmp_path / "other"
    elsewhere.mkdir()
    other.mkdir()
    (other / "w.avi").write_bytes((videos / "v0.avi").read_bytes())
    os.symlink(videos / "v1.avi", elsewhere / "patient7.avi")
    os.symlink(other, elsewhere / "linked_folder")  # a link to a folder is followed
    items = discover_inputs([elsewhere])
    assert [(item.name, item.path.name) for item in items] == [("linked_folder__w", "w.avi"),
                                                               ("patient7", "patient7.avi")]


def test_broken_links_and_loops_are_skipped_with_a_line_each(videos, caplog):
    os.symlink(videos / "gone.avi", videos / "broken.avi")
    os.symlink(videos, videos / "loop")
    caplog.set_level(logging.INFO)
    items = discover_inputs([videos])
    assert [item.name for item in items] == ["v0", "v1"]
    lines = [r.getMessage() for r in caplog.records]
    assert sum("broken.avi: skipped: a broken link" in line for line in lines) == 1
    assert sum(f"{videos / 'loop'}: skipped" in line and "searched already" in line for line in lines) == 1
