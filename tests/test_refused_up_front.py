"""issue 26 items 15, 16: an input size that cannot fit in memory is refused before any work in one line, by
every command that trains; runtime.threads above the usable cores is capped with a note (test_refused_before_work
has the demo's video count, the torchrun variables and --threads)."""

from __future__ import annotations

import logging

import pytest

from test_cli_errors import _one_line_error, dataset  # noqa: F401 (dataset: a fixture)
from test_data_cli import _run


@pytest.mark.parametrize("command", [["train", "--out", "{out}/run"],
                                     ["cv", "--out", "{out}/cv", "--folds", "2"],
                                     ["demo", "--out", "{out}/demo", "--videos", "5"]])
def test_an_input_size_that_cannot_fit_in_memory_is_refused_with_an_estimate(command, dataset, tmp_path, capsys):  # noqa: F811
    argv = [part.format(out=tmp_path) for part in command] + ["--config", "cpu", "--no-progress",
                                                              "--set", "data.input_size=[100000,100000]"]
    if command[0] != "demo":
        argv += ["--data", str(dataset), "--format", "synthetic"]
    code, _, err = _run(argv, capsys)
    assert code == 2
    line = _one_line_error(err)
    assert "data.input_size 100000x100000" in line and "GiB" in line and "available" in line
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "demo" / "data").exists()


def test_training_threads_above_the_usable_cores_are_capped(tmp_path, caplog):
    import torch

    from _training_data import TinyNet, ellipse_dataset, tiny_overrides
    from echoseg.training import resolve_config, train

    before = torch.get_num_threads()
    try:
        config = resolve_config(None, tiny_overrides(1) + ["runtime.threads=10000"])
        with caplog.at_level(logging.WARNING):
            train(config, out_dir=tmp_path / "run", samples=ellipse_dataset(n_train=2, n_val=1), model=TinyNet())
        assert torch.get_num_threads() <= len(__import__("os").sched_getaffinity(0))
        assert "runtime.threads 10000 is more than" in caplog.text
    finally:
        torch.set_num_threads(before)
