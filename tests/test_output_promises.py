"""issue 26: the README's promises, for every subcommand: nothing is written inside a dataset it reads,
nothing a user made is overwritten without --overwrite, and a refusal is one line naming the path.

Every command runs with the dataset as its current folder, so an output that slipped through (an
empty --out is the current folder) would show up as a change of the dataset."""

from __future__ import annotations

import pytest

from echoseg.cli import build_parser
from echoseg.models.checkpoint import save_model
from inference_support import TINY_MODEL_NAME, TinyDarkNet, one_torch_thread, register_tiny_model  # noqa: F401
from readers_fixtures import write_echonet
from test_cli_errors import _one_line_error, _run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MINE = b"made by the user"


def _snapshot(root):
    """Every file under `root` (hidden ones included) with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny network's weights: enough for every refusal, which comes before it is used."""
    register_tiny_model()
    return save_model(tmp_path_factory.mktemp("ckpt") / "model.safetensors", TinyDarkNet(window=3), TINY_MODEL_NAME,
                      {"window": 3, "width": 4}, extra={"input_size": [32, 32]})


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    """A tiny EchoNet dataset, which is also a folder of videos for predict and adapt; the current folder."""
    root = tmp_path / "echonet"
    write_echonet(root, [{"name": f"V{i}", "n_frames": 12, "traced": [0, 6], "split": split}
                         for i, split in enumerate(("TRAIN", "TRAIN", "VAL", "TEST"))])
    monkeypatch.chdir(root)
    return root


TRAIN_OPTIONS = ["--config", "cpu", "--no-progress", "--set", "optim.steps=2", "--set", "data.input_size=[32,32]"]

# Every subcommand that writes, with OUT where its output goes (DATA: the dataset, CKPT: the weights).
COMMANDS = {
    "synth": ["synth", "OUT", "--videos", "1", "--frames", "16", "--size", "32", "--no-progress"],
    "data summary": ["data", "summary", "DATA", "--format", "echonet", "--out", "OUT", "--no-progress"],
    "data preview": ["data", "preview", "DATA", "--format", "echonet", "--case", "V0", "--out", "OUT"],
    "train": ["train", "--data", "DATA", "--format", "echonet", "--out", "OUT", *TRAIN_OPTIONS],
    "evaluate": ["evaluate", "--checkpoint", "CKPT", "--data", "DATA", "--format", "echonet", "--out", "OUT",
                 "--no-progress"],
    "predict": ["predict", "DATA", "--checkpoint", "CKPT", "--out", "OUT", "--no-progress"],
    "cv": ["cv", "--data", "DATA", "--format", "echonet", "--out", "OUT", "--limit-folds", "1", *TRAIN_OPTIONS],
    "ablation": ["ablation", "--data", "DATA", "--format", "echonet", "--out", "OUT", "--seeds", "0",
                 "--variants", "unet", *TRAIN_OPTIONS],
    "compare": ["compare", "--data", "DATA", "--format", "echonet", "--out", "OUT", "--no-timing", *TRAIN_OPTIONS],
    "adapt": ["adapt", "DATA", "--out", "OUT", "--steps", "1", "--synthetic-videos", "1", "--no-progress"],
    "export onnx": ["export", "--checkpoint", "CKPT", "--onnx", "OUT"],
    "export torchscript": ["export", "--checkpoint", "CKPT", "--torchscript", "OUT"],
    "bench": ["bench", "model", "--quick", "--variants", "unet", "--k", "1", "--no-assc", "--no-preset",
              "--no-ratios", "--json", "OUT"],
    "bench predict": ["bench", "predict", "--videos", "0", "--json", "OUT"],
    "import-weights": ["import-weights", "echonet-dynamic", "CKPT", "--out", "OUT"],
    "demo": ["demo", "--out", "OUT", "--videos", "5", "--no-progress"],
}
READS_DATA = [name for name, argv in COMMANDS.items() if "DATA" in argv]
FILE_OUTPUTS = ["data summary", "data preview", "export onnx", "export torchscript", "bench", "bench predict",
                "import-weights"]


def _argv(name, out, dataset, checkpoint):
    values = {"OUT": out, "DATA": dataset, "CKPT": checkpoint}
    return [values.get(a, a) for a in COMMANDS[name]]


def test_every_writing_subcommand_is_covered():
    """A new subcommand must be added here (and so promise what the others do)."""
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    covered = {name.split()[0] for name in COMMANDS} | {"version"}
    assert set(subcommands) == covered


@pytest.mark.parametrize("name", READS_DATA)
@pytest.mark.parametrize("where", ["root", "inside"])
def test_nothing_is_written_inside_the_dataset(name, where, dataset, checkpoint, capsys):
    before = _snapshot(dataset.parent)
    out = dataset if where == "root" else dataset / "Videos" / ("o.png" if name in FILE_OUTPUTS else "out")
    code, _, err = _run(_argv(name, out, dataset, checkpoint), capsys)
    assert code == 2
    _one_line_error(err, str(dataset), "which this command reads")  # refused by the output check, not by chance
    assert _snapshot(dataset.parent) == before  # no file written, none replaced, nothing left half-made
    assert sorted(p.name for p in dataset.parent.iterdir()) == ["echonet"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_file_the_user_made_is_not_overwritten(name, dataset, checkpoint, capsys, tmp_path):
    mine = tmp_path / "mine.out"
    mine.write_bytes(MINE)
    before = _snapshot(tmp_path)
    code, _, err = _run(_argv(name, mine, dataset, checkpoint), capsys)
    assert code == 2
    line = _one_line_error(err, str(mine))
    if name in FILE_OUTPUTS:
        assert "--overwrite" in line
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_empty_out_is_refused(name, dataset, checkpoint, capsys):
    before = _snapshot(dataset.parent)
    code, _, err = _run(_argv(name, "", dataset, checkpoint), capsys)
    assert code == 2
    _one_line_error(err, "empty")
    assert _snapshot(dataset.parent) == before


def test_version_writes_nothing(dataset, capsys):
    before = _snapshot(dataset.parent)
    code, out, _ = _run(["version"], capsys)
    assert code == 0 and out.startswith("echoseg ")
    assert _snapshot(dataset.parent) == before


def test_summary_out_ending_in_a_slash_is_refused_not_written_as_a_file(dataset, capsys, tmp_path):
    code, _, err = _run(["data", "summary", dataset, "--format", "echonet", "--no-progress",
                         "--out", f"{tmp_path / 'tables'}/"], capsys)
    assert code == 2
    _one_line_error(err, "is a folder", str(tmp_path / "tables" / "cases.csv"))
    assert not (tmp_path / "tables").exists()


def test_overwrite_replaces_a_file_output(dataset, capsys, tmp_path):
    mine = tmp_path / "cases.csv"
    mine.write_bytes(MINE)
    code, out, err = _run(["data", "summary", dataset, "--format", "echonet", "--no-progress", "--out", mine,
                           "--overwrite"], capsys)
    assert code == 0, err
    assert mine.read_text().startswith("case_id,") and mine.read_text().count("\n") == 5  # header + 4 cases


def test_evaluate_refuses_to_replace_an_earlier_evaluation(dataset, checkpoint, capsys, tmp_path):
    earlier = tmp_path / "eval"
    earlier.mkdir()
    (earlier / "metrics.json").write_bytes(MINE)
    argv = ["evaluate", "--checkpoint", checkpoint, "--data", dataset, "--format", "echonet", "--out", earlier,
            "--no-progress", "--worst", "0"]
    code, _, err = _run(argv, capsys)
    assert code == 2
    _one_line_error(err, str(earlier), "metrics.json", "--overwrite")
    assert (earlier / "metrics.json").read_bytes() == MINE and sorted(p.name for p in earlier.iterdir()) == [
        "metrics.json"]
    code, _, err = _run([*argv, "--overwrite"], capsys)
    assert code in (0, 1), err  # 1: the tiny untrained model may fail a case; the report is written either way
    assert (earlier / "metrics.json").read_bytes() != MINE and (earlier / "report.html").is_file()


def test_predict_into_its_own_input_folder_leaves_nothing_there(dataset, checkpoint, capsys):
    videos = dataset / "Videos"
    before = _snapshot(videos)
    code, _, err = _run(["predict", videos, "--checkpoint", checkpoint, "--out", videos, "--no-progress"], capsys)
    assert code == 2
    _one_line_error(err, str(videos), "input")
    assert _snapshot(videos) == before and not (videos / "run.json").exists()


def test_a_refused_file_output_leaves_no_folder_behind(dataset, capsys, tmp_path):
    out = tmp_path / "new" / "deeper" / "V9.png"
    code, _, err = _run(["data", "preview", dataset, "--format", "echonet", "--case", "V9", "--out", out], capsys)
    assert code == 2 and "V9" in err  # no such case: refused after the output check
    assert not (tmp_path / "new").exists()


def test_predict_refused_for_its_checkpoint_leaves_no_out_folder(dataset, capsys, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not weights")
    code, _, err = _run(["predict", dataset / "Videos", "--checkpoint", broken, "--out", tmp_path / "pred"], capsys)
    assert code == 2 and "broken.safetensors" in err
    assert not (tmp_path / "pred").exists()
