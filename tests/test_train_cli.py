import csv

import pytest

from echoseg.cli import main
from echoseg.data.synthetic import generate_dataset, write_synthetic


def run_cli(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_echoseg_train_on_synthetic_files_then_resume(tmp_path, capsys):
    write_synthetic(tmp_path / "data", generate_dataset(5, seed=3, frames=16, size=32, difficulty="easy"))
    argv = ["train", "--data", str(tmp_path / "data"), "--format", "synthetic", "--config", "cpu",
            "--out", str(tmp_path / "run"), "--no-progress", "--set", "model.name=unet", "--set", "model.window=1",
            "--set", "model.settings.width=0.125", "--set", "data.input_size=[32,32]", "--set", "optim.steps=4",
            "--set", "data.num_workers=0", "--set", "runtime.val_interval=2"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "best checkpoint:" in out and "(4 steps)" in out
    assert (tmp_path / "run/checkpoints/best/model.safetensors").is_file()
    # Starting again into the same folder is refused; --resume (config from the run folder) completes.
    assert run_cli(argv) == 2
    assert "already holds a training run" in capsys.readouterr().err
    resume = ["train", "--data", str(tmp_path / "data"), "--format", "synthetic", "--out", str(tmp_path / "run"),
              "--resume", "--no-progress"]
    assert run_cli(resume) == 0
    assert "(4 steps)" in capsys.readouterr().out


def test_echoseg_train_reports_bad_config_without_traceback(tmp_path, capsys):
    code = run_cli(["train", "--data", str(tmp_path), "--format", "synthetic", "--config", "cpu",
                    "--out", str(tmp_path / "run"), "--set", "optim.learnign_rate=1"])
    assert code == 2
    assert "unknown key(s) ['learnign_rate']" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_preset_learns_synthetic_medium_in_150_steps(tmp_path):
    """Learning test: the CPU preset (SSCF width 0.25, 64x64, mean teacher) from random weights to
    validation Dice >= 0.75 on synthetic medium videos in 150 steps. (No wall-clock assertion: the
    shared CI machine's speed varies 10x; benchmarks/bench_training.py measures time.)"""
    write_synthetic(tmp_path / "data", generate_dataset(14, seed=11, frames=32, size=112, difficulty="medium"))
    code = run_cli(["train", "--data", str(tmp_path / "data"), "--format", "synthetic", "--config", "cpu",
                    "--out", str(tmp_path / "run"), "--no-progress", "--set", "optim.steps=150",
                    "--set", "runtime.val_interval=50"])
    assert code == 0
    rows = [r for r in csv.DictReader(open(tmp_path / "run/metrics.csv")) if r["val_dice_student"]]
    initial = float(rows[0]["val_dice_student"])
    best = max(max(float(r["val_dice_student"]), float(r["val_dice_teacher"])) for r in rows[1:])
    assert initial < 0.6
    assert best >= 0.75, rows


def test_dataset_fingerprint_changes_when_the_dataset_is_rewritten(tmp_path):
    import os

    from echoseg.training.api import dataset_fingerprint

    (tmp_path / "cases.csv").write_text("case_id\na\n")
    before = dataset_fingerprint(tmp_path, "synthetic")
    assert dataset_fingerprint(tmp_path, "synthetic") == before  # reading changes nothing
    (tmp_path / "cases.csv").write_text("case_id\nb\n")  # same size, rewritten
    os.utime(tmp_path / "cases.csv", ns=(1, 1))
    assert dataset_fingerprint(tmp_path, "synthetic") != before
