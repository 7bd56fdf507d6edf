"""issue 26, item 20: one video whose output folder cannot be written is an errors.csv row; the batch
goes on and the exit status says that one failed (as for a video that cannot be read)."""

from __future__ import annotations

import csv

import pytest

from echoseg.cli import main
from echoseg.models.checkpoint import save_model
from inference_support import TINY_MODEL_NAME, TinyDarkNet, beating_video, one_torch_thread, register_tiny_model  # noqa: F401
from test_data_inputs import _write_cv2

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_an_unwritable_video_folder_is_one_error_and_the_batch_goes_on(tmp_path, capsys):
    register_tiny_model()
    checkpoint = save_model(tmp_path / "model.safetensors", TinyDarkNet(window=3), TINY_MODEL_NAME,
                            {"window": 3, "width": 4}, extra={"input_size": [32, 32]})
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        _write_cv2(videos / f"v{i}.avi", beating_video(frames=10, size=(32, 32), period=5, phase=1, seed=i)[0])
    out = tmp_path / "pred"
    out.mkdir()
    # v1's folder cannot be made: a file holds its name (what a read-only folder is to a user; root ignores modes)
    (out / "v1").write_text("in the way")
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in ["predict", videos, "--checkpoint", checkpoint, "--out", out, "--no-progress",
                               "--no-overlay"]])
    err = capsys.readouterr().err
    assert info.value.code == 1, err
    assert "Traceback" not in err
    assert [row["name"] for row in _rows(out / "summary.csv")] == ["v0", "v2"]
    errors = _rows(out / "errors.csv")
    assert [row["input"] for row in errors] == [str(videos / "v1.avi")]
    assert str(out / "v1") in errors[0]["error"] and "cannot write" in errors[0]["error"]
    assert (out / "v0" / "done.json").is_file() and (out / "v2" / "done.json").is_file()
    assert (out / "v1").read_text() == "in the way"
