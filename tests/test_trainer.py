import csv

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from _training_data import TinyNet, ellipse_dataset, tiny_overrides
from echoseg.config import ConfigError
from echoseg.errors import EchosegError
from echoseg.models.checkpoint import read_metadata
from echoseg.training import TrainingDiverged, available_presets, resolve_config, train
from echoseg.training.cache import FrameCache, InMemorySource, build_frame_cache
from echoseg.training.dataset import (
    StreamSpec,
    TwoStreamBatches,
    labeled_windows,
    stream_items,
    unlabeled_windows,
)
from echoseg.training.schedules import poly_factor


def tiny_train(out, steps=8, workers=0, extra=(), model=None, **kwargs):
    config = resolve_config(None, tiny_overrides(steps, workers) + list(extra))
    torch.manual_seed(0)
    return train(config, out_dir=out, samples=ellipse_dataset(), model=model or TinyNet(), **kwargs)


def weights(path):
    return load_file(str(path))


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_run_folder_contents_and_learning(tmp_path):
    result = tiny_train(tmp_path / "run", steps=24, extra=["runtime.val_interval=8"])
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "training_curves.png").stat().st_size > 1000
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(0, 25, 2))
    assert rows[0]["val_dice_student"] and rows[-1]["val_dice_teacher"]
    assert float(rows[1]["lambda"]) == pytest.approx(0.5 * (1 / 24) ** 2, rel=1e-3)  # mean of steps 0 and 1
    assert float(rows[-1]["windows_per_s"]) > 0
    # The network learned: validation Dice rose from its untrained value.
    assert result.best_dice > result.initial_val_dice + 0.2
    assert result.best_which in ("student", "teacher") and result.best_step > 0
    best = run / "checkpoints" / "best"
    meta = read_metadata(best / "model.safetensors")
    assert meta.model == "tiny" and meta.extra["which"] == result.best_which
    assert meta.extra["input_size"] == [32, 32]
    assert meta.extra["mask_rule"] == {"threshold": 0.5, "clean": False}  # the rule validation chose it with
    assert_same_weights(weights(best / "model.safetensors"), weights(best / f"{result.best_which}.safetensors"))
    last = run / "checkpoints" / "last"
    state = torch.load(last / "train_state.pt", weights_only=True)
    assert state["step"] == 24 and read_metadata(last / "teacher.safetensors").extra["which"] == "teacher"
    # Poly LR: the scheduler's factor after the last step is 0.
    assert state["scheduler"]["last_epoch"] == 24
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.003 * poly_factor(24, 24), abs=1e-12)
    lr_at_10 = float(next(r["lr"] for r in rows if r["step"] == "10"))  # mean lr of steps 8 and 9
    assert lr_at_10 == pytest.approx(0.003 * (poly_factor(8, 24) + poly_factor(9, 24)) / 2, rel=1e-4)


def test_resume_is_bitwise_identical_and_independent_of_workers(tmp_path):
    tiny_train(tmp_path / "straight", steps=8, workers=0)
    tiny_train(tmp_path / "split", steps=8, workers=2, until_step=3)  # between checkpoints
    assert torch.load(tmp_path / "split/checkpoints/last/train_state.pt", weights_only=True)["step"] == 3
    torch.manual_seed(123)  # a different global RNG state must not matter on resume
    tiny_train(tmp_path / "split", steps=8, workers=0, resume=True, model=TinyNet())
    for name in ("student", "teacher"):
        assert_same_weights(weights(tmp_path / f"straight/checkpoints/last/{name}.safetensors"),
                            weights(tmp_path / f"split/checkpoints/last/{name}.safetensors"))
    a = torch.load(tmp_path / "straight/checkpoints/last/train_state.pt", weights_only=True)["optimizer"]
    b = torch.load(tmp_path / "split/checkpoints/last/train_state.pt", weights_only=True)["optimizer"]
    for key in a["state"]:
        assert torch.equal(a["state"][key]["exp_avg_sq"], b["state"][key]["exp_avg_sq"])


def test_supervised_only_trainer(tmp_path):
    result = tiny_train(tmp_path / "sup", steps=4, extra=["mean_teacher.enabled=false"])
    assert result.val_dice_teacher is None and result.best_which == "student"
    assert not (tmp_path / "sup/checkpoints/last/teacher.safetensors").exists()


class NaNAfter(TinyNet):
    """Returns NaN from its 6th training forward on (step 6)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls > 5:
                return out * float("nan")
        return out


def test_nan_loss_stops_naming_step_and_keeps_last_good_checkpoint(tmp_path):
    # the advice must be one that works: a resumed run keeps its config, so it says "start a new run"
    with pytest.raises(TrainingDiverged, match=r"not finite at step 6 .*last good checkpoint is .*last.*start a new run"):
        # joint: one training forward per step (separate makes two), so forward 6 is step 6
        tiny_train(tmp_path / "nan", steps=8, model=NaNAfter(), extra=["mean_teacher.student_batchnorm=joint"])
    last = tmp_path / "nan/checkpoints/last"
    assert torch.load(last / "train_state.pt", weights_only=True)["step"] == 4
    assert all(torch.isfinite(t).all() for t in weights(last / "student.safetensors").values())


def test_new_run_refuses_existing_run_and_resume_refuses_changed_config(tmp_path):
    tiny_train(tmp_path / "run", steps=2)
    with pytest.raises(EchosegError, match="already holds a training run"):
        tiny_train(tmp_path / "run", steps=2)
    with pytest.raises(ConfigError, match=r"optim.lr"):
        tiny_train(tmp_path / "run", steps=2, resume=True, extra=["optim.lr=0.1"])


def test_presets_resolve_by_name_and_reject_unknown_keys():
    assert {"cpu", "paper"} <= set(available_presets())
    paper = resolve_config("paper")
    assert paper.data.input_size == (256, 256) and paper.optim.epochs == 100 and paper.optim.lr == 1e-4
    assert paper.mean_teacher.ema_decay == 0.99 and paper.model.settings["width"] == 1.0
    assert resolve_config("cpu", ["optim.lr=3e-4"]).optim.lr == 3e-4
    with pytest.raises(ConfigError, match="valid keys"):
        resolve_config("cpu", ["optim.learning_rate=1"])
    with pytest.raises(ConfigError, match="no preset named"):
        resolve_config("nonexistent")


def test_windows_and_two_stream_batches(tmp_path):
    samples = ellipse_dataset(n_train=2, n_val=1, frames=6)
    cache = build_frame_cache(InMemorySource(samples), [(s.case_id, s.split) for s in samples], (32, 32),
                              tmp_path, "test")
    assert isinstance(cache, FrameCache) and cache.indices("val") == [2]
    train = cache.indices("train")
    # ED/ES only by default; every annotated frame when allowed.
    assert labeled_windows(cache, train, False).tolist() == [[0, 0], [0, 3], [1, 0], [1, 3]]
    assert len(labeled_windows(cache, train, True)) == 12
    assert len(unlabeled_windows(cache, train)) == 12
    # Edge replication: the window at frame 0 repeats frame 0.
    window = cache.window(0, 0, 3)
    assert np.array_equal(window[0], window[1]) and np.array_equal(window[2], samples[0].video[1])
    from echoseg.training.config import AugmentConfig, PerturbConfig

    def batches(rank, world, batch):
        return TwoStreamBatches(cache, 3, StreamSpec(labeled_windows(cache, train, False), batch),
                                StreamSpec(unlabeled_windows(cache, train), batch), AugmentConfig(),
                                PerturbConfig(), seed=5, total_steps=10, rank=rank, world_size=world)

    whole = batches(0, 1, 4)[3]
    assert whole["labeled"].shape == (4, 3, 32, 32) and whole["mask"].shape == (4, 1, 32, 32)
    assert whole["student"].dtype == torch.float32 and not torch.equal(whole["student"], whole["teacher"])
    # Two ranks with half the batch see exactly the single process's windows and augmentations.
    halves = [batches(r, 2, 2)[3] for r in range(2)]
    for key in ("labeled", "mask", "student", "teacher"):
        assert torch.equal(torch.cat([h[key] for h in halves]), whole[key])
    # Each epoch of a stream visits every window once, in a new order each epoch.
    first, second = stream_items(5, 0, 7, np.arange(7)), stream_items(5, 0, 7, np.arange(7, 14))
    assert sorted(first) == list(range(7)) == sorted(second) and first.tolist() != second.tolist()


@pytest.mark.slow
def test_kill_minus_9_then_resume_matches_uninterrupted_run(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = Path(__file__).with_name("_train_subprocess.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    steps = "300"
    subprocess.run([sys.executable, str(script), str(tmp_path / "straight"), steps], env=env, check=True)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), steps], env=env)
    state = tmp_path / "killed/checkpoints/last/train_state.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and torch.load(state, weights_only=True)["step"] >= 40:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; raise `steps`"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(state, weights_only=True)["step"]
    assert 40 <= killed_at < 300
    subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), steps, "--resume"], env=env, check=True)
    for name in ("student", "teacher"):
        assert_same_weights(weights(tmp_path / f"straight/checkpoints/last/{name}.safetensors"),
                            weights(tmp_path / f"killed/checkpoints/last/{name}.safetensors"))


def test_bf16_autocast_and_channels_last_run(tmp_path):
    result = tiny_train(tmp_path / "amp", steps=2, extra=["runtime.amp_dtype=bf16", "runtime.channels_last=true"])
    assert result.steps == 2 and result.val_dice_student is not None
    state = weights(tmp_path / "amp/checkpoints/last/student.safetensors")
    floats = [t for t in state.values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in floats)


def test_trainer_built_without_a_dist_context_honours_runtime_device(tmp_path, monkeypatch):
    """A Trainer made from Python without a DistContext used to train on the CPU whatever runtime.device
    said (benchmarks/bench_gpu.py timed CPU steps on a GPU machine): it must resolve runtime.device."""
    from echoseg.training.api import prepare_cache
    from echoseg.training.distributed import DeviceError, DistContext
    from echoseg.training.trainer import Trainer

    config = resolve_config(None, tiny_overrides(2) + ["mean_teacher.enabled=false"])
    source = InMemorySource(ellipse_dataset(4, 2, 12, 32))
    cache, train_videos, val_videos, _ = prepare_cache(source, source.fingerprint(), config, tmp_path / "cache",
                                                       DistContext())
    assert Trainer(config, TinyNet(), cache, train_videos, val_videos, tmp_path / "cpu").device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config.runtime.device = "cuda"
    with pytest.raises(DeviceError, match="CUDA is not available"):
        Trainer(config, TinyNet(), cache, train_videos, val_videos, tmp_path / "cuda")
