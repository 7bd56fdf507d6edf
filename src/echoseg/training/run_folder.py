"""The run folder: resolved config, metrics.csv, training curves, checkpoints. This module owns its
layout (`RunFolder`); nothing else spells out these names. The checkpoint names come from
`echoseg.models.weights_files`, which `find_weights` (inference's way to a run's weights) reads too.

    RUN/config.yaml                 the resolved TrainConfig
    RUN/dataset.json                the dataset trained on: path, format, fingerprint (--resume checks it)
    RUN/cases.csv                   every case of the dataset: train, val, test, unused or left out (and why)
    RUN/metrics.csv                 one row per logged step (losses, lambda, lr, windows/s, val Dice)
    RUN/training_curves.png
    RUN/checkpoints/last/           student.safetensors, teacher.safetensors (mean teacher),
                                    model.safetensors (= student), train_state.pt
    RUN/checkpoints/best/           student/teacher.safetensors, model.safetensors (= the better by
                                    validation Dice; extra["which"] says which)

Weights are echoseg safetensors (`echoseg.models.checkpoint.save_model`, self-describing). train_state.pt
holds only tensors and plain Python values (optimizer, scheduler, step, RNG states, best score) and
is read with `torch.load(weights_only=True)`. A checkpoint folder is written under a temporary
name and swapped in, so a kill at any moment leaves either the old or the new folder complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from echoseg.errors import CheckpointError
from echoseg.io import atomic_path, atomic_write_text
from echoseg.models.checkpoint import WEIGHTS_NAME
from echoseg.models.weights_files import (
    BEST,
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    LAST,
    STATE_NAME,
    checkpoint_folder,
    run_weights,
    weights_name,
)

log = logging.getLogger(__name__)


class RunFolder:
    """Where a training run keeps each of its files, and what the folder holds so far."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / CONFIG_NAME
        self.dataset = self.path / "dataset.json"
        self.cases = self.path / "cases.csv"
        self.metrics = self.path / "metrics.csv"
        self.curves = self.path / "training_curves.png"
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self.cache = self.path / "cache"

    def checkpoint(self, name: str) -> Path | None:
        """The complete checkpoint folder `name` ("last" holds the training state too, "best" only
        weights), or its previous version if a kill interrupted the swap; None if there is none."""
        return checkpoint_folder(self.checkpoints, name, STATE_NAME if name == LAST else WEIGHTS_NAME)

    def can_resume(self) -> bool:
        """True when the folder holds a checkpoint that `train(resume=True)` continues from."""
        return self.checkpoint(LAST) is not None

    @property
    def best_weights(self) -> Path | None:
        return run_weights(self.path, BEST)

    @property
    def last_weights(self) -> Path | None:
        return run_weights(self.path, LAST)

    def staging(self, name: str):
        """Context manager: a temporary folder that replaces checkpoints/NAME when the block succeeds."""
        return atomic_dir(self.checkpoints / name)

    @staticmethod
    def network_file(folder: Path, which: str) -> Path:
        """The weights of one network ("student", "teacher") in a checkpoint folder."""
        return Path(folder) / weights_name(which)

    @staticmethod
    def model_file(folder: Path) -> Path:
        """model.safetensors of a checkpoint folder: the weights inference uses."""
        return Path(folder) / WEIGHTS_NAME

    @staticmethod
    def state_file(folder: Path) -> Path:
        return Path(folder) / STATE_NAME


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `path` (the previous one is kept as
    `.NAME.old` until the swap is done, and `checkpoint_folder` falls back to it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.parent / f".{path.name}.old"
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def link_or_copy(src: Path, dst: Path) -> None:
    """model.safetensors beside student/teacher.safetensors without writing the bytes twice."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# ---------------------------------------------------------------- RNG states (weights_only-safe)

def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [list(random.getstate()[1]), random.getstate()[0], random.getstate()[2]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    internal, version, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_train_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(f"{path}: unreadable training state ({exc})") from None


# ---------------------------------------------------------------- metrics.csv and curves

METRIC_COLUMNS = ["step", "epoch", "loss", "loss_sup", "loss_dice", "loss_bce", "loss_cons", "loss_mse", "loss_kl",
                  "loss_aux", "lambda", "lr", "ema_decay", "windows_per_s", "elapsed_s", "val_dice_student", "val_dice_teacher"]


class MetricsLog:
    """Rows keyed by step, rewritten atomically as a whole (small: one row per logged step)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[int, dict[str, Any]] = {}

    def add(self, step: int, values: dict[str, Any]) -> None:
        self.rows.setdefault(step, {"step": step}).update(values)

    def load(self, up_to_step: int) -> None:
        """Read an existing metrics.csv, keeping rows up to `up_to_step` (the resumed checkpoint):
        rows written after it belong to steps that will be trained again."""
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            for row in csv.DictReader(f):
                step = int(row["step"])
                if step <= up_to_step:
                    self.rows[step] = {k: _number(v) for k, v in row.items() if v not in ("", None)}

    def write(self) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for step in sorted(self.rows):
            writer.writerow({k: _format(v) for k, v in self.rows[step].items()})
        atomic_write_text(self.path, out.getvalue())

    def column(self, name: str) -> tuple[list[int], list[float]]:
        steps = [s for s in sorted(self.rows) if name in self.rows[s]]
        return steps, [float(self.rows[s][name]) for s in steps]


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def plot_curves(metrics: MetricsLog, path: Path) -> None:
    """training_curves.png: losses and lambda over steps (left), validation Dice (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(11, 4))
    for name, label in (("loss", "total"), ("loss_sup", "supervised"), ("loss_cons", "consistency"),
                        ("loss_aux", "model's auxiliary")):
        steps, values = metrics.column(name)
        if steps:
            ax_loss.plot(steps, values, label=label)
    steps, values = metrics.column("lambda")
    if steps:
        ax_loss.plot(steps, values, "--", color="gray", label="lambda(t)")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("symlog", linthresh=1e-3)
    for name, label in (("val_dice_student", "student"), ("val_dice_teacher", "teacher (EMA)")):
        steps, values = metrics.column(name)
        if steps:
            ax_dice.plot(steps, values, "o-", label=label)
    ax_dice.set_xlabel("step")
    ax_dice.set_ylabel("validation Dice")
    ax_dice.set_ylim(0, 1)
    ax_dice.grid(alpha=0.3)
    for ax in (ax_loss, ax_dice):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
