"""Commands that write one file (`data summary/preview --out`, `export`, `bench --json`, `import-weights`)
never replace an existing file without --overwrite, refuse a folder-like name, and refuse before any work."""

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
