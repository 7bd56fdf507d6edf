"""issue 14: --checkpoint finds the weights users mean: a run without `best`, a folder holding a run."""

from __future__ import annotations

import logging

import pytest
import torch

from echoseg.errors import CheckpointError
from echoseg.models.weights_files import STATE_NAME, find_weights


def _run_folder(root, checkpoints=("last",)):
    root.mkdir(parents=True)
    (root / "config.yaml").write_text("model: {name: unet}\n")
    for name in checkpoints:
        folder = root / "checkpoints" / name
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"weights")
        if name == "last":
            torch.save({"step": 3}, folder / STATE_NAME)
    return root


def test_run_with_only_last_uses_it_and_says_so(tmp_path, caplog):
    run = _run_folder(tmp_path / "run", ("last",))
    with caplog.at_level(logging.WARNING):
        assert find_weights(run) == run / "checkpoints" / "last" / "model.safetensors"
    assert "no best checkpoint" in caplog.text


def test_best_is_preferred(tmp_path):
    run = _run_folder(tmp_path / "run", ("last", "best"))
    assert find_weights(run) == run / "checkpoints" / "best" / "model.safetensors"


def test_parent_folder_with_one_run_finds_it(tmp_path):
    run = _run_folder(tmp_path / "demo" / "train", ("last", "best"))
    (tmp_path / "demo" / "predict").mkdir()
    assert find_weights(tmp_path / "demo") == run / "checkpoints" / "best" / "model.safetensors"


def test_parent_folder_with_several_runs_names_them(tmp_path):
    a = _run_folder(tmp_path / "cv" / "fold0" / "train", ("best",))
    b = _run_folder(tmp_path / "cv" / "fold1" / "train", ("best",))
    with pytest.raises(CheckpointError, match="holds 2 training runs") as info:
        find_weights(tmp_path / "cv")
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_empty_folder_says_what_was_looked_for(tmp_path):
    with pytest.raises(CheckpointError, match="no model.safetensors here"):
        find_weights(tmp_path)
