"""issue 14: predict output names are unique and faithful, and a rerun never takes another input's results."""

from __future__ import annotations

import csv
import json

import pytest

from echoseg.data.inputs import discover_inputs
from echoseg.inference import outputs
from echoseg.inference.predict import OUT_FILES, PredictSettings, predict_videos
from echoseg.inference.segmenter import Segmenter
from inference_support import TinyDarkNet, beating_video, one_torch_thread  # noqa: F401
from test_data_inputs import _write_cv2

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = (32, 32)


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter(TinyDarkNet(window=3).eval(), SIZE, batch_size=8)


def _video(path, seed):
    return _write_cv2(path, beating_video(frames=12, size=SIZE, period=6, phase=2, seed=seed)[0])


def _summary(out):
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def _predict(inputs, segmenter, out, **kw):
    return predict_videos(inputs, segmenter, out, PredictSettings(progress=False, overlay=False, **kw))


def test_similar_names_never_share_results(tmp_path, segmenter):
    videos = tmp_path / "in"
    videos.mkdir()
    _video(videos / "a b.avi", 0)
    _video(videos / "a_b.avi", 1)
    out = tmp_path / "out"
    _predict([videos], segmenter, out)
    _video(videos / "a+b.avi", 2)  # a new video whose cleaned name used to be "a_b" too
    report = _predict([videos], segmenter, out)
    assert (report.n_done, report.n_skipped) == (1, 2)
    rows = _summary(out)
    assert sorted(r["input"] for r in rows) == sorted(str(videos / n) for n in ("a b.avi", "a_b.avi", "a+b.avi"))
    assert len({r["name"] for r in rows}) == 3
    for row in rows:  # each folder holds the results of the input its row names
        done = json.loads((out / row["name"] / outputs.DONE_MARKER).read_text())
        assert done["input"] == row["input"]
    assert {r["name"] for r in rows} == {"a b", "a_b", "a+b"}  # faithful: nothing replaced


def test_names_keep_unicode_and_collisions_get_a_hash(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("心脏.avi", "a.avi", "a.mp4", "sub/x.avi", "sub__x.avi", "run.json.avi", "ranks.avi"):
        (tmp_path / name).write_bytes(b"")
    names = {item.path.name if item.path.parent == tmp_path else f"sub/{item.path.name}": item.name
             for item in discover_inputs([tmp_path], reserved=OUT_FILES)}
    assert names["心脏.avi"] == "心脏"
    # a.avi and a.mp4 would both be "a"; sub/x.avi and sub__x.avi both "sub__x": all get a short hash
    # of their path, so neither name depends on which of them was listed first.
    for group in (("a.avi", "a.mp4"), ("sub/x.avi", "sub__x.avi")):
        stems = [names[g] for g in group]
        assert len(set(stems)) == 2 and all("-" in s and len(s.rsplit("-", 1)[1]) == 8 for s in stems)
    # names of predict's own files in OUT are never used for a video's folder
    assert names["run.json.avi"] != "run.json" and names["ranks.avi"] != "ranks"
    again = discover_inputs([tmp_path])
    assert [i.name for i in again] == [i.name for i in discover_inputs([tmp_path])]  # deterministic


def test_rerun_with_another_input_of_the_same_name_is_not_skipped(tmp_path, segmenter):
    first, second = tmp_path / "x" / "a.avi", tmp_path / "y" / "a.avi"
    first.parent.mkdir()
    second.parent.mkdir()
    _video(first, 0)
    _video(second, 5)
    out = tmp_path / "out"
    _predict([first], segmenter, out)
    kept = (out / "a" / "masks.npz").read_bytes()
    report = _predict([second], segmenter, out)
    assert (report.n_done, report.n_skipped) == (1, 0)
    row = _summary(out)[0]
    assert row["input"] == str(second) and row["name"] != "a" and row["status"] == "done"
    assert (out / "a" / "masks.npz").read_bytes() == kept  # the other input's results are untouched
    assert json.loads((out / row["name"] / outputs.DONE_MARKER).read_text())["input"] == str(second)


def test_changed_input_file_is_redone(tmp_path, segmenter):
    video = _video(tmp_path / "a.avi", 0)
    out = tmp_path / "out"
    _predict([video], segmenter, out)
    assert _predict([video], segmenter, out).n_skipped == 1
    _video(video, 3)  # the file was replaced by another recording under the same name
    report = _predict([video], segmenter, out)
    assert (report.n_done, report.n_skipped) == (1, 0)
