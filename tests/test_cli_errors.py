"""issue 14: bad options, bad files and Ctrl-C end in one clear line (no traceback), and commands
never overwrite a dataset."""

from __future__ import annotations

import sys

import pytest

from echoseg.cli import main
from echoseg.models.checkpoint import save_model
from inference_support import TINY_MODEL_NAME, TinyDarkNet, beating_video, one_torch_thread, register_tiny_model  # noqa: F401
from test_data_inputs import _write_cv2

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_TRAIN = ["--config", "cpu", "--no-progress", "--set", "model.name=unet", "--set", "model.window=1",
              "--set", "model.settings.width=0.125", "--set", "data.input_size=[32,32]", "--set", "optim.steps=4",
              "--set", "data.num_workers=0", "--set", "runtime.val_at_start=false", "--set", "runtime.threads=1",
              "--set", "runtime.val_interval=2"]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _one_line_error(err: str, *words: str) -> str:
    """The error is the last line of stderr (argparse prints its usage line above it), no traceback."""
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert "error" in line or "interrupted" in line, err
    for word in words:
        assert word in line, (word, line)
    return line


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    register_tiny_model()
    folder = tmp_path_factory.mktemp("ckpt")
    return save_model(folder / "model.safetensors", TinyDarkNet(window=3), TINY_MODEL_NAME, {"window": 3, "width": 4},
                      extra={"input_size": [32, 32]})


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for i in range(2):
        _write_cv2(folder / f"v{i}.avi", beating_video(frames=12, size=(32, 32), period=6, phase=2, seed=i)[0])
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from echoseg.data.synthetic import generate_dataset, write_synthetic

    root = tmp_path_factory.mktemp("data") / "synthetic"
    write_synthetic(root, generate_dataset(5, seed=3, frames=16, size=32, difficulty="easy"))
    return root


def _a_file(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    return blocker / "out"  # a folder that cannot be created: its parent is a file (root ignores permissions)


@pytest.mark.parametrize("command", ["predict", "train", "export", "preview", "summary", "evaluate"])
def test_unwritable_out_is_one_line(command, tmp_path, capsys, checkpoint, videos, dataset):
    out = _a_file(tmp_path)
    argv = {
        "predict": ["predict", videos, "--checkpoint", checkpoint, "--out", out, "--no-progress"],
        "train": ["train", "--data", dataset, "--format", "synthetic", "--out", out, *TINY_TRAIN],
        "export": ["export", "--checkpoint", checkpoint, "--torchscript", out / "m.pt"],
        "preview": ["data", "preview", dataset, "--format", "synthetic", "--case", "synth0000", "--out", out / "p.png"],
        "summary": ["data", "summary", dataset, "--format", "synthetic", "--out", out / "c.csv", "--no-progress"],
        "evaluate": ["evaluate", "--checkpoint", checkpoint, "--data", dataset, "--format", "synthetic", "--out", out,
                     "--no-progress"],
    }[command]
    code, _, err = _run(argv, capsys)
    assert code == 2
    _one_line_error(err, str(tmp_path / "a_file"))


@pytest.mark.parametrize("argv, words", [
    (["--batch-size", "0"], ["--batch-size", "0"]),
    (["--threshold", "2"], ["--threshold", "2"]),
    (["--spacing", "-1", "0"], ["--spacing", "-1"]),
    (["--threads", "-2"], ["--threads"]),
    (["--device", "banana"], ["banana"]),
])
def test_bad_predict_options_are_refused_at_parse_time(argv, words, tmp_path, capsys, checkpoint, videos):
    code, _, err = _run(["predict", videos, "--checkpoint", checkpoint, "--out", tmp_path / "o", "--no-progress", *argv],
                        capsys)
    assert code == 2
    _one_line_error(err, *words)
    assert not (tmp_path / "o").exists()  # refused before anything was written


@pytest.mark.parametrize("argv, words", [
    (["--folds", "-1"], ["--folds", "-1"]),
    (["--folds", "1"], ["--folds", "1"]),
    (["--bootstrap", "0"], ["--bootstrap", "0"]),
    (["--time-width", "0"], ["--time-width"]),
    (["--time-size", "100"], ["--time-size", "100"]),
])
def test_bad_compare_options_are_refused_before_training(argv, words, tmp_path, capsys, dataset):
    code, _, err = _run(["compare", "--data", dataset, "--format", "synthetic", "--config", "cpu",
                         "--out", tmp_path / "o", "--no-progress", *argv], capsys)
    assert code == 2
    _one_line_error(err, *words)
    assert not (tmp_path / "o").exists()


def test_cuda_without_cuda_names_the_device_not_the_weights(tmp_path, capsys, checkpoint, videos, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = _run(["predict", videos, "--checkpoint", checkpoint, "--out", tmp_path / "o", "--device", "cuda"],
                        capsys)
    assert code == 2
    line = _one_line_error(err, "CUDA")
    assert "weights" not in line and "checkpoint" not in line


@pytest.mark.parametrize("override, words", [
    ("optim.steps=-3", ["optim.steps", "-3"]),
    ("data.input_size=64", ["data.input_size", "64"]),
    ("optim.lr=fast", ["optim.lr", "fast"]),
    ("data.batch_labeled=0", ["data.batch_labeled"]),
    ("mean_teacher.ema_decay=1.5", ["mean_teacher.ema_decay"]),
    ("augment.hflip=2", ["augment.hflip"]),
    ("runtime.device=banana", ["banana"]),
    ("data.max_bad_fraction=-1", ["data.max_bad_fraction"]),
    ("augment.zoom=1.5", ["augment.zoom", "1.5"]),
    ("augment.appearance.blur_sigma=0.1", ["augment.appearance.blur_sigma"]),
])
def test_nonsense_config_values_are_refused(override, words, tmp_path, capsys, dataset):
    code, _, err = _run(["train", "--data", dataset, "--format", "synthetic", "--out", tmp_path / "run",
                         "--config", "cpu", "--set", override], capsys)
    assert code == 2
    _one_line_error(err, *words)
    assert not (tmp_path / "run").exists()


def test_malformed_yaml_names_the_file_and_line(tmp_path, capsys, dataset):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  steps: [1,\n  lr: 2\n")
    code, _, err = _run(["train", "--data", dataset, "--format", "synthetic", "--out", tmp_path / "run",
                         "--config", bad], capsys)
    assert code == 2
    _one_line_error(err, str(bad), "line")


def test_export_without_onnx_says_what_to_install(tmp_path, capsys, checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    code, _, err = _run(["export", "--checkpoint", checkpoint, "--onnx", tmp_path / "m.onnx"], capsys)
    assert code == 2
    _one_line_error(err, "echoseg[onnx]")
    assert not list(tmp_path.iterdir())  # no partial .onnx left behind


def test_export_failure_leaves_no_partial_file(tmp_path, capsys, checkpoint, monkeypatch):
    import torch

    def broken_export(*args, **kwargs):
        open(args[2], "wb").write(b"partial")
        raise RuntimeError("exporter failed half way")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    code, _, err = _run(["export", "--checkpoint", checkpoint, "--onnx", tmp_path / "m.onnx"], capsys)
    assert code == 2
    _one_line_error(err, "m.onnx", "exporter failed half way")
    assert not list(tmp_path.iterdir())


def test_ctrl_c_in_train_says_where_it_stopped_and_how_to_resume(tmp_path, capsys, dataset, monkeypatch):
    from echoseg.training.run_folder import RunFolder
    from echoseg.training.trainer import Trainer

    real_step = Trainer.train_step

    def interrupted_at_step_3(self, batch):
        if self.step == 2:
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", interrupted_at_step_3)
    run = tmp_path / "run"
    code, _, err = _run(["train", "--data", dataset, "--format", "synthetic", "--out", run, *TINY_TRAIN], capsys)
    assert code == 130
    line = _one_line_error(err, "interrupted", "step 2 of 4", "--resume", str(run), str(dataset))
    assert "echoseg train" in line
    assert RunFolder(run).can_resume()
    monkeypatch.setattr(Trainer, "train_step", real_step)
    code, out, err = _run(["train", "--data", dataset, "--format", "synthetic", "--out", run, "--resume",
                           "--no-progress"], capsys)
    assert code == 0 and "(4 steps)" in out, err


def test_ctrl_c_in_predict_says_where_it_stopped_and_how_to_resume(tmp_path, capsys, checkpoint, videos, monkeypatch):
    from echoseg.inference.segmenter import Segmenter

    real = Segmenter.segment_view
    calls = []

    def interrupted_on_second(self, view):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, view)

    monkeypatch.setattr(Segmenter, "segment_view", interrupted_on_second)
    out = tmp_path / "o"
    argv = ["predict", videos, "--checkpoint", checkpoint, "--out", out, "--no-progress", "--no-overlay"]
    code, _, err = _run(argv, capsys)
    assert code == 130
    line = _one_line_error(err, "interrupted", "1 of 2", str(out), "echoseg predict")
    assert (out / "v0" / "done.json").is_file()
    monkeypatch.setattr(Segmenter, "segment_view", real)
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    assert str(out) in stdout  # says where the outputs went
    assert line


def test_synth_refuses_a_folder_holding_a_dataset(tmp_path, capsys):
    from readers_fixtures import write_echonet

    root = tmp_path / "echonet"
    write_echonet(root, [{"name": "REAL", "n_frames": 12, "traced": [0, 6]}])
    before = {p.name: p.read_bytes() for p in root.glob("*.csv")}
    code, _, err = _run(["synth", root, "--videos", "2", "--frames", "16", "--size", "32", "--no-progress"], capsys)
    assert code == 2
    _one_line_error(err, str(root), "--overwrite")
    assert {p.name: p.read_bytes() for p in root.glob("*.csv")} == before
    code, out, err = _run(["synth", root, "--videos", "2", "--frames", "16", "--size", "32", "--no-progress",
                           "--overwrite"], capsys)
    assert code == 0, err
    assert "%|" not in err  # --no-progress: no bar
    assert not (root / "Videos" / "REAL.avi").exists()  # no orphans of the replaced dataset


def test_empty_input_folder_is_an_error(tmp_path, capsys, checkpoint):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(["predict", tmp_path / "empty", "--checkpoint", checkpoint, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line_error(err, "no video", str(tmp_path / "empty"))


def test_unknown_error_types_are_still_one_line(tmp_path, capsys, monkeypatch):
    """OSError from anywhere (disk full, permissions) is one line naming the file."""
    import echoseg.commands.synth as synth

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "x.avi"))

    monkeypatch.setattr(synth, "run", full_disk)
    code, _, err = _run(["synth", tmp_path / "new", "--videos", "1"], capsys)
    assert code == 2
    _one_line_error(err, "No space left on device", "x.avi")
