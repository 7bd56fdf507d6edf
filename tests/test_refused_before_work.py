"""Refused before any work, in one line: one-file outputs (`data summary/preview --out`, `export`, `bench --json`,
`import-weights`) that exist without --overwrite or are named like a folder; weights holding NaN or infinities."""

from __future__ import annotations

import time

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


@pytest.mark.parametrize("command", [
    lambda d, out: ["data", "summary", str(d), "--format", "synthetic", "--no-progress", "--out", str(out)],
    lambda d, out: ["data", "preview", str(d), "--format", "synthetic", "--case", "synth_0000", "--out", str(out)],
    lambda d, out: ["export", "--checkpoint", "unused.safetensors", "--onnx", str(out)],
    lambda d, out: ["bench", "model", "--quick", "--json", str(out)],
    lambda d, out: ["bench", "predict", "--videos", "0", "--json", str(out)],
    lambda d, out: ["import-weights", "echonet-dynamic", "unused.pt", "--out", str(out)],
], ids=["data-summary", "data-preview", "export", "bench-model", "bench-predict", "import-weights"])
def test_an_existing_output_file_is_kept_and_refused_before_any_work(tmp_path, dataset, capsys, command):
    out = _mine(tmp_path / "existing.file")
    started = time.perf_counter()
    assert _run(command(dataset, out)) == 2
    err = capsys.readouterr().err
    assert "exists; add --overwrite" in err and str(out) in err and "Traceback" not in err
    assert out.read_text() == "the user's own file" and time.perf_counter() - started < 5  # refused first


def test_summary_overwrites_when_asked_and_refuses_a_folder_name(tmp_path, dataset, capsys):
    out = _mine(tmp_path / "summary.csv")
    argv = ["data", "summary", str(dataset), "--format", "synthetic", "--no-progress", "--out"]
    assert _run(argv + [str(out), "--overwrite"]) == 0 and out.read_text().startswith("case_id")
    folder_like = f"{tmp_path / 'reports'}/"
    assert _run(argv + [folder_like]) == 2 and "is a folder; give a file name" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


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


@pytest.mark.parametrize("command", [
    lambda d, out: ["train", "--data", str(d), "--format", "synthetic", "--config", "cpu", "--out", str(out)],
    lambda d, out: ["evaluate", "--checkpoint", "unused", "--data", str(d), "--format", "synthetic", "--out", str(out)],
    lambda d, out: ["predict", str(d), "--out", str(out), "--no-progress"],
], ids=["train", "evaluate", "predict"])
@pytest.mark.parametrize("where", ["root", "inside", "empty"])
def test_outputs_are_never_written_inside_the_folder_read_or_to_an_empty_name(tmp_path, dataset, capsys, command,
                                                                              where, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty --out would mean this folder
    out = {"root": dataset, "inside": dataset / "results", "empty": ""}[where]
    before = sorted(p.name for p in dataset.rglob("*"))
    assert _run(command(dataset, out)) == 2
    err = capsys.readouterr().err
    expected = "give a folder name" if where == "empty" else "inside the folder being read"
    assert expected in err and "Traceback" not in err
    assert sorted(p.name for p in dataset.rglob("*")) == before and not list(tmp_path.glob("*.json"))


def test_evaluate_keeps_an_earlier_evaluation_without_overwrite(tmp_path, dataset, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    argv = ["evaluate", "--checkpoint", "unused", "--data", str(dataset), "--format", "synthetic", "--out", str(out)]
    assert _run(argv) == 2
    assert "holds an earlier evaluation" in capsys.readouterr().err and (out / "metrics.json").read_text() == "{}"


def test_an_input_size_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, dataset, capsys):
    # issue 26, item 15: [100000, 100000] was killed by the OOM killer at 24 GB with no message
    argv = ["train", "--data", str(dataset), "--format", "synthetic", "--config", "cpu", "--out", str(tmp_path / "r"),
            "--set", "data.input_size=[100000,100000]"]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "data.input_size 100000x100000: one training batch's input frames alone take" in err and "GiB" in err
    assert not (tmp_path / "r").exists()


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
