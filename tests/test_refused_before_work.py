"""Refused before any work, in one line: weights holding NaN or infinities, a demo too small to split, a bad
torchrun variable; --threads capped at the cores. (Outputs: test_output_promises; memory: test_refused_up_front.)"""

from __future__ import annotations

import pytest

from echoseg.cli import main as cli_main
from echoseg.data.synthetic import generate_dataset, write_synthetic


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    write_synthetic(root, generate_dataset(3, seed=2, frames=16, size=32, difficulty="easy"))
    return root


def _run(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    return exit_info.value.code


def _mine(path):
    path.write_text("the user's own file")
    return path


def test_weights_with_nan_are_refused_in_one_line_by_predict_and_as_init(tmp_path, dataset, capsys):
    import torch

    from echoseg.models.checkpoint import save_model
    from echoseg.models.registry import create_model

    model = create_model("unet", width=0.125)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    weights = save_model(tmp_path / "nan.safetensors", model, "unet", {"width": 0.125}, {"input_size": [32, 32]})
    video = tmp_path / "clip.avi"
    from echoseg.data.synthetic.generator import generate_video
    from echoseg.data.synthetic.writers import write_avi

    write_avi(video, generate_video(0, frames=16, size=32, difficulty="easy").sample.video, fps=50.0)
    assert _run(["predict", str(video), "--checkpoint", str(weights), "--out", str(tmp_path / "out"),
                 "--engine", "torch", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "hold NaN or infinite values" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "summary.csv").exists()
    assert _run(["train", "--data", str(dataset), "--format", "synthetic", "--config", "cpu", "--out",
                 str(tmp_path / "run"), "--set", f"model.init={weights}", "--set", "model.name=unet",
                 "--set", "model.settings={width: 0.125}", "--set", "model.window=1", "--set", "optim.steps=2",
                 "--no-progress"]) == 2
    assert "hold NaN or infinite values" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["demo", "--videos", "1"], "the demo needs at least 5"),
    (["demo", "--videos", "4"], "the demo needs at least 5"),
])
def test_settings_that_cannot_work_are_refused_before_any_work(tmp_path, capsys, argv, message):
    assert _run(argv + ["--out", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "demo").exists()


def test_a_bad_torchrun_variable_is_one_line(tmp_path, dataset, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "abc")
    assert _run(["predict", str(dataset), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "$WORLD_SIZE='abc'" in err and "Traceback" not in err


def test_more_threads_than_cores_are_capped_with_a_note(caplog):
    from echoseg.threads import default_threads, usable_threads

    with caplog.at_level("WARNING"):
        assert usable_threads(10_000) == default_threads()
    assert "--threads 10000" in caplog.text
    assert usable_threads(1) == 1 and usable_threads(None) == default_threads()


def test_overlays_of_small_videos_are_drawn_at_a_readable_size():
    # issue 26, item 23: EchoNet's 112x112 overlay video was too small to read
    import numpy as np

    from echoseg.inference.outputs import overlay_frames

    frames = np.full((3, 112, 112), 60, np.uint8)
    masks = np.zeros((3, 112, 112), bool)
    masks[:, 40:70, 50:80] = True
    bgr = overlay_frames(frames, masks, ed=[0], es=[2])
    assert bgr.shape == (3, 448, 448, 3)
    green = (bgr[1, :, :, 1] > 200) & (bgr[1, :, :, 2] < 100)
    ys, xs = np.nonzero(green)
    # the contour sits on the mask's edge at the enlarged scale (rows 40-69 -> 160-279), and is thin
    assert 150 <= ys.min() <= 165 and 275 <= ys.max() <= 290 and 195 <= xs.min() <= 205
    assert green.sum() < 4 * 4 * 120 * 2  # a line, not the filled square
    assert overlay_frames(np.zeros((2, 600, 800), np.uint8), np.zeros((2, 600, 800), bool), [], []).shape[1:3] == (600, 800)
