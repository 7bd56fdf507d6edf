"""`echoseg train --init` / `model.init`: start a run from existing weights (fine-tuning)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from _training_data import TinyNet, ellipse_dataset, tiny_overrides
from echoseg.cli import main
from echoseg.errors import CheckpointError
from echoseg.models.checkpoint import load_initial_weights, read_metadata, save_model
from echoseg.training import resolve_config, train


def tiny_train(out, steps=4, extra=(), model=None):
    config = resolve_config(None, tiny_overrides(steps) + list(extra))
    torch.manual_seed(0)
    return train(config, out_dir=out, samples=ellipse_dataset(n_train=2, n_val=1, frames=8), model=model or TinyNet())


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("pre") / "run", steps=4)


def test_init_starts_from_the_weights_and_records_where_they_came_from(tmp_path, pretrained):
    best = pretrained.run_dir / "checkpoints/best/model.safetensors"
    # lr 1e-30 (far below a float32 ulp of any weight; 0 is refused) and no weight decay: the weights stay
    # the initial ones, so they must equal the pretrained.
    result = tiny_train(tmp_path / "fine", steps=2, extra=[f"model.init={pretrained.run_dir}", "optim.lr=1e-30",
                                                           "optim.weight_decay=0"])
    start, after = load_file(str(best)), load_file(str(result.run_dir / "checkpoints/last/student.safetensors"))
    conv = [k for k in start if k.endswith("weight") or k.endswith("bias")]
    assert conv and all(torch.equal(start[k], after[k]) for k in conv)
    scratch = tiny_train(tmp_path / "scratch", steps=2, extra=["optim.lr=1e-30", "optim.weight_decay=0"])
    other = load_file(str(scratch.run_dir / "checkpoints/last/student.safetensors"))
    assert not all(torch.equal(start[k], other[k]) for k in conv)  # random initial weights differ
    recorded = read_metadata(result.run_dir / "checkpoints/last/model.safetensors").extra["init_from"]
    assert recorded["path"] == str(best.resolve()) and recorded["sha256"] == read_metadata(best).sha256
    assert "init: " in (result.run_dir / "config.yaml").read_text()


def test_init_refuses_another_network_in_one_line(tmp_path, pretrained):
    with pytest.raises(CheckpointError, match="cannot start from these weights") as info:
        tiny_train(tmp_path / "wide", extra=[f"model.init={pretrained.run_dir}"], model=TinyNet(width=16))
    assert "\n" not in str(info.value) and "another shape" in str(info.value)
    one_frame = TinyNet(window=1)
    with pytest.raises(CheckpointError, match="body.0.weight"):
        load_initial_weights(one_frame, pretrained.best_checkpoint, "tiny", {"window": 1})


def test_load_initial_weights_names_missing_and_unexpected_tensors(tmp_path):
    path = save_model(tmp_path / "plain.safetensors", TinyNet(batchnorm=False), "tiny", {})
    with pytest.raises(CheckpointError, match=r"missing, e\.g\. body\.1\.") as info:
        load_initial_weights(TinyNet(), path, "tiny", {})
    assert "tiny {}" in str(info.value)
    model = TinyNet(batchnorm=False)
    assert load_initial_weights(model, path, "tiny", {}).model == "tiny"


def test_train_command_init_errors_are_one_line(tmp_path, capsys, pretrained):
    def run(*extra):
        argv = ["train", "--data", str(tmp_path / "nowhere"), "--format", "synthetic", "--config", "cpu",
                "--out", str(tmp_path / "run"), "--no-progress", *extra]
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        return exit_info.value.code, capsys.readouterr().err

    code, err = run("--init", str(tmp_path / "missing.safetensors"))
    assert code == 2 and "missing.safetensors: checkpoint not found" in err and "Traceback" not in err
    # The cpu preset's SSCF is not the tiny network of the pretrained run: refused before any data is read.
    code, err = run("--init", str(pretrained.run_dir))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "cannot start from these weights: they are tiny" in err and "the config builds sscf" in err


def test_fine_tuning_cannot_end_below_its_starting_weights_on_validation(tmp_path, pretrained):
    """The guard: with model.init, step 0 is a trained model and may be the best checkpoint. A run that
    only makes things worse (a learning rate that wrecks the network) ends with the starting weights."""
    best = pretrained.run_dir / "checkpoints/best/model.safetensors"
    result = tiny_train(tmp_path / "wrecked", steps=3, extra=[f"model.init={pretrained.run_dir}", "optim.lr=50",
                                                              "optim.init_lr_scale=1", "mean_teacher.enabled=false"])
    assert result.best_step == 0 and result.best_dice == pytest.approx(result.initial_val_dice)
    start, kept = load_file(str(best)), load_file(str(result.best_checkpoint))
    assert all(torch.equal(start[k], kept[k]) for k in start)
    assert read_metadata(result.best_checkpoint).extra["step"] == 0


def test_fine_tuning_scales_the_learning_rate(tmp_path, pretrained):
    config = resolve_config(None, tiny_overrides(2) + [f"model.init={pretrained.run_dir}", "optim.lr=1e-3"])
    assert config.optim.init_lr_scale == 0.1
    def first_lr(result):
        rows = (result.run_dir / "metrics.csv").read_text().splitlines()
        header, first = rows[0].split(","), rows[2].split(",")
        return float(first[header.index("lr")])

    fine = tiny_train(tmp_path / "fine", steps=2, extra=[f"model.init={pretrained.run_dir}", "optim.lr=1e-3"])
    scratch = tiny_train(tmp_path / "scratch", steps=2, extra=["optim.lr=1e-3"])
    assert first_lr(fine) == pytest.approx(0.1 * first_lr(scratch), rel=1e-4)  # the same poly decay, a tenth
