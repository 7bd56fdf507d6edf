"""The training loop: `Trainer` (supervised) and `MeanTeacherTrainer` (the paper's recipe).

`Trainer.fit` is a fixed loop over steps calling small hooks:

    for batch in loader (steps self.step .. stop):
        logs = self.train_step(batch)          # forward, loss, backward, optimizer step
        self.step += 1
        self.on_step_end(logs)                 # metrics row, validation_step, checkpoints
        if end of epoch: self.on_epoch_end(epoch)

Both add the student's own auxiliary losses (optical flow, motion, label coherence of some
competitor networks; `echoseg.models.auxiliary`) to the total loss: the student's training-mode
forward keeps what they need, `_add_auxiliary` collects them right after it.

`MeanTeacherTrainer` overrides `compute_loss` (adds the consistency term on unlabelled windows),
`train_step` (adds the EMA teacher update after the optimizer step) and `validation_step` (scores
the teacher too). Everything random in a step is derived from (seed, step): the data order and
augmentations (dataset.py) and torch's global generator (reseeded per step, for dropout), so a
resumed run repeats exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from monai.metrics import compute_dice
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from echoseg.errors import CheckpointError, EchosegError, Interrupted
from echoseg.geometry.masks import MaskRule
from echoseg.models.auxiliary import collect_auxiliary_losses
from echoseg.models.checkpoint import save_model
from echoseg.models.weights_files import BEST, LAST
from echoseg.threads import usable_threads
from echoseg.training.cache import FrameCache
from echoseg.training.config import TrainConfig, steps_per_epoch
from echoseg.training.dataset import (
    StreamSpec,
    TwoStreamBatches,
    cv2_serial_for_fork,
    labeled_subset,
    labeled_windows,
    unlabeled_windows,
    validation_batches,
)
from echoseg.training.distributed import DistContext, resolve_device, wrap_model
from echoseg.training.ema import ModelEMA
from echoseg.training.fourier_style import fourier_style
from echoseg.training.losses import confident_pixels, consistency_loss, supervised_loss
from echoseg.training.run_folder import (
    MetricsLog,
    RunFolder,
    link_or_copy,
    load_train_state,
    plot_curves,
    rng_state,
    save_train_state,
    set_rng_state,
)
from echoseg.training.schedules import consistency_ramp, poly_factor

log = logging.getLogger(__name__)

VAL_BATCH = 16


class TrainingDiverged(EchosegError):
    """The loss became NaN or infinite; the run stopped without overwriting the last good checkpoint."""


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training; `step` is the step saved in `checkpoint` (RUN/checkpoints/last, or None)."""

    def __init__(self, message: str, step: int, checkpoint: Path | None):
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


@dataclass
class RunResult:
    run_dir: Path
    steps: int  # optimizer steps done in total
    best_checkpoint: Path | None  # RUN/checkpoints/best/model.safetensors
    best_dice: float | None  # validation Dice of the best checkpoint
    best_which: str | None  # "student" or "teacher"
    best_step: int | None
    val_dice_student: float | None  # at the last validation
    val_dice_teacher: float | None
    initial_val_dice: float | None  # student at step 0 (before training), if validated
    metrics_csv: Path
    rank: int = 0  # under torchrun only rank 0 validates: its result holds the scores


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A 63-bit seed for torch's global generator at `step` (dropout etc.), independent per rank."""
    return int(np.random.SeedSequence([seed, step, rank, 0x70C4]).generate_state(1, np.uint64)[0] >> 1)


@torch.no_grad()
def validation_dice(model: nn.Module, cache: FrameCache, windows: np.ndarray, window: int, device: torch.device,
                    autocast: contextlib.AbstractContextManager | None = None, channels_last: bool = False,
                    rule: MaskRule | None = None) -> float:
    """Mean per-image Dice (MONAI compute_dice; empty prediction on empty mask = 1) of the masks `rule`
    makes: the rule the weights record and that `evaluate` and `predict` apply, so the best
    checkpoint is chosen by what is tested (default: threshold 0.5, no cleaning).
    """
    was_training = model.training
    model.eval()
    scores = []
    try:
        for x, y in validation_batches(cache, windows, window, VAL_BATCH):
            x = x.to(device).float().div_(255)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast or contextlib.nullcontext():
                logits = model(x)
            pred = torch.from_numpy((rule or MaskRule()).from_logits(logits.float()[:, 0].cpu().numpy())[:, None]).float()
            scores.append(compute_dice(pred.to(device), y.to(device).float(), include_background=True,
                                       ignore_empty=False).cpu())
    finally:
        model.train(was_training)
    return float(torch.cat(scores).mean()) if scores else float("nan")


class Trainer:
    """Supervised training of one network on labelled windows (the paper's `unet` row)."""

    uses_unlabeled = False

    def __init__(self, config: TrainConfig, model: nn.Module, cache: FrameCache, train_videos: list[int],
                 val_videos: list[int], run_dir: str | Path, *, model_name: str | None = None,
                 model_cfg: dict[str, Any] | None = None, dist: DistContext | None = None,
                 progress: bool = False, init_from: dict[str, Any] | None = None):
        self.config = config
        self.init_from = init_from  # where the initial weights came from (config.model.init), recorded
        self.cache = cache
        self.run_dir = Path(run_dir)
        self.run = RunFolder(run_dir)
        # validation selects the checkpoint with this rule; the weights record it for load_segmenter
        self.mask_rule = MaskRule(clean=config.runtime.val_postprocess)
        self.model_name = model_name or config.model.name
        self.model_cfg = model_cfg if model_cfg is not None else config.model.create_kwargs()
        # without a context (a Trainer made from Python, not by `train`): a single process on runtime.device
        self.dist = dist or DistContext(device=resolve_device(config.runtime.device))
        self.device = self.dist.device
        self.progress = progress and self.dist.is_main
        rt = config.runtime
        if rt.threads > 0:
            torch.set_num_threads(usable_threads(rt.threads, "runtime.threads"))

        self.window = int(model.window)
        self.student = model.to(self.device)
        if rt.channels_last:
            self.student = self.student.to(memory_format=torch.channels_last)
        self.student.train()
        self.forward_model = wrap_model(self.student, self.dist)
        if rt.compile:
            self.forward_model = torch.compile(self.forward_model)

        # Streams and schedule. With data.label_fraction < 1 only some training videos are traced; every
        # training video, and every video of data.unlabeled (cache split "unlabeled"), is unlabelled.
        self.labeled_videos = labeled_subset(cache, train_videos, config.data.label_fraction, rt.seed)
        extra = cache.indices("unlabeled")
        self.unlabeled_videos = extra if config.data.unlabeled_stream == "extra" else list(train_videos) + extra
        self.labeled_windows = labeled_windows(cache, self.labeled_videos, config.data.use_all_frame_labels)
        self.val_windows = labeled_windows(cache, val_videos, config.data.use_all_frame_labels)
        global_labeled = config.data.batch_labeled * self.dist.world_size
        self.steps_per_epoch = steps_per_epoch(len(self.labeled_windows), global_labeled)
        self.total_steps = config.total_steps(self.steps_per_epoch)
        self.val_interval = rt.val_interval or self.steps_per_epoch
        self.checkpoint_interval = rt.checkpoint_interval or self.val_interval
        unlabeled = None
        if self.uses_unlabeled:
            unlabeled = StreamSpec(unlabeled_windows(cache, self.unlabeled_videos), config.data.batch_unlabeled)
        self.dataset = TwoStreamBatches(
            cache, self.window, StreamSpec(self.labeled_windows, config.data.batch_labeled), unlabeled,
            config.augment, config.mean_teacher.perturb, rt.seed, self.total_steps,
            rank=self.dist.rank, world_size=self.dist.world_size)

        # Fine-tuning moves a trained network at a fraction of the from-scratch rate.
        lr = config.optim.lr * (config.optim.init_lr_scale if init_from is not None else 1.0)
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=lr, weight_decay=config.optim.weight_decay)
        total, power = self.total_steps, config.optim.poly_power
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: poly_factor(s, total, power))
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[rt.amp_dtype]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

        self.step = 0
        self._saved_step = -1
        self.best: dict[str, Any] = {"dice": None, "which": None, "step": None}
        self.last_val: dict[str, float] = {}
        self.initial_val_dice: float | None = None
        self.metrics = MetricsLog(self.run.metrics)
        self._pending: list[dict[str, float]] = []
        self._window_count = 0
        self._busy = 0.0
        self._elapsed_before = 0.0  # wall-clock seconds of earlier sessions of this run (resume)
        self._fit_start = time.perf_counter()

    # ------------------------------------------------------------------ hooks

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        return x.contiguous(memory_format=torch.channels_last) if self.config.runtime.channels_last else x

    def compute_loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Supervised loss on the labelled windows' centre frames. Returns at least {"loss"}."""
        with self.autocast():
            logits = self.forward_model(self._input(batch["labeled"]))
        mask = batch["mask"].to(self.device)
        sup = supervised_loss(logits, mask, self.config.optim.dice_weight, self.config.optim.bce_weight)
        losses = {"loss": sup["loss"], "loss_sup": sup["loss"], "loss_dice": sup["dice"], "loss_bce": sup["bce"]}
        return self._add_auxiliary(losses, mask, mask.shape[0])

    def _add_auxiliary(self, losses: dict[str, torch.Tensor], mask: torch.Tensor, n_labeled: int,
                       aux: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Add the student's own auxiliary losses of this step's forward (flow, motion, label coherence:
        `echoseg.models.auxiliary`; `aux` when the caller collected them) to the total; their sum is
        logged as loss_aux."""
        if aux is None:
            aux = collect_auxiliary_losses(self.student, mask, n_labeled)
        if aux:
            losses["loss_aux"] = sum(aux.values())
            losses["loss"] = losses["loss"] + losses["loss_aux"]
        return losses

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimizer step. Raises TrainingDiverged before touching the weights if the loss is not finite."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.compute_loss(batch)
        loss = losses["loss"]
        if not self.dist.all_true(bool(torch.isfinite(loss.detach()).item())):
            self._diverged(losses)
        self.scaler.scale(loss).backward()
        if self.config.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.student.parameters(), self.config.optim.grad_clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        logs = {k: float(v.detach()) for k, v in losses.items()}
        logs["lr"] = lr
        return logs

    @torch.no_grad()
    def validation_step(self) -> dict[str, float]:
        """Validation scores by model name ("student", and "teacher" for mean teacher)."""
        return {"student": self._score(self.student)}

    def on_step_end(self, logs: dict[str, float]) -> None:
        rt = self.config.runtime
        self._pending.append(logs)
        final = self.step >= self.total_steps
        if self.step % rt.log_interval == 0 or final:
            self._log_row()
        if self.step % self.val_interval == 0 or final:
            self.validate()
        if self.step % self.checkpoint_interval == 0 or final:
            self.save_last()

    def on_epoch_end(self, epoch: int) -> None:
        """Called after the last step of each epoch (1-based `epoch`); nothing to do by default."""

    # ------------------------------------------------------------------ the loop

    def fit(self, until_step: int | None = None) -> RunResult:
        """Train from `self.step` to the end (or to `until_step`, e.g. to simulate an interruption)."""
        stop = min(self.total_steps, until_step if until_step is not None else self.total_steps)
        self._fit_start = time.perf_counter()
        if self.step == 0 and self.config.runtime.val_at_start and not self.metrics.rows:
            self.validate()
            self.initial_val_dice = self.last_val.get("student")
        bar = self._progress_bar()
        # windows/s counts data wait + train step only (not validation or checkpoint writing).
        self._busy = 0.0
        tick = time.perf_counter()
        try:
            with cv2_serial_for_fork():
                batches = iter(self._loader(self.step, stop))  # workers fork here
            for batch in batches:
                if batch["step"] != self.step:  # the loader is a range of steps; anything else is a bug
                    raise RuntimeError(f"data for step {batch['step']} arrived at step {self.step}")
                torch.manual_seed(step_seed(self.config.runtime.seed, self.step, self.dist.rank))
                logs = self.train_step(batch)
                self._busy += time.perf_counter() - tick
                self._window_count += self._windows_in(batch) * self.dist.world_size
                self.step += 1
                self.on_step_end(logs)
                if self.step % self.steps_per_epoch == 0:
                    self.on_epoch_end(self.step // self.steps_per_epoch)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(self._postfix(logs), refresh=False)
                tick = time.perf_counter()
        except KeyboardInterrupt:
            self._interrupted()
        finally:
            if bar is not None:
                bar.close()
        if self._saved_step != self.step:  # stopped between checkpoints (until_step): keep the progress
            self.save_last()
        return self.result()

    def _interrupted(self) -> None:
        """Ctrl-C: keep the steps done so far (single process: save `last` now; under torchrun the
        other ranks may be gone, so the last saved checkpoint stands) and raise TrainingInterrupted."""
        if self.dist.world_size == 1 and self._saved_step != self.step:
            self.save_last()
        folder = self.run.checkpoint(LAST)
        if folder is None:
            raise TrainingInterrupted(f"interrupted at step {self.step} of {self.total_steps}, before any "
                                      "checkpoint was saved", self.step, None)
        raise TrainingInterrupted(f"interrupted at step {self.step} of {self.total_steps}; step {self._saved_step} "
                                  f"is saved in {folder}", self._saved_step, folder)

    def _loader(self, start: int, stop: int) -> DataLoader:
        workers = self.config.data.num_workers
        extra = {"prefetch_factor": self.config.data.prefetch_factor} if workers else {}
        return DataLoader(self.dataset, batch_size=None, sampler=range(start, stop), num_workers=workers,
                          pin_memory=self.device.type == "cuda", **extra)

    def _windows_in(self, batch: dict[str, Any]) -> int:
        return int(batch["labeled"].shape[0]) + (int(batch["student"].shape[0]) if "student" in batch else 0)

    # ------------------------------------------------------------------ validation and checkpoints

    def _score(self, model: nn.Module) -> float:
        return validation_dice(model, self.cache, self.val_windows, self.window, self.device, self.autocast(),
                               self.config.runtime.channels_last, self.mask_rule)

    def validate(self) -> None:
        """Score on the validation windows (rank 0), log, and save `best` if a score improved."""
        if self.dist.is_main and len(self.val_windows):
            scores = self.validation_step()
            self.last_val = scores
            self.metrics.add(self.step, {f"val_dice_{name}": value for name, value in scores.items()}
                             | {"elapsed_s": self.elapsed()})
            which = max(scores, key=lambda name: (scores[name], name == "student"))  # ties: the student (paper)
            # Step 0 of a run from random weights is a reference point, never the best checkpoint; of a run
            # from model.init it is the starting model, which a fine-tuning run must beat to replace.
            eligible = self.step > 0 or self.init_from is not None
            if eligible and (self.best["dice"] is None or scores[which] > self.best["dice"]):
                self.best = {"dice": scores[which], "which": which, "step": self.step}
                self.save_best(which, scores)
            self.metrics.write()
            plot_curves(self.metrics, self.run.curves)
            # With a progress bar the scores are in its postfix; a log line would break the bar.
            log.log(logging.DEBUG if self.progress else logging.INFO, "step %d: validation Dice %s", self.step,
                    {k: round(v, 4) for k, v in scores.items()})
        self.dist.barrier()

    def models_to_save(self) -> dict[str, nn.Module]:
        return {"student": self.student}

    def _save_weights(self, folder: Path, extra: dict[str, Any]) -> None:
        for name, model in self.models_to_save().items():
            info = {**extra, "which": name, "input_size": list(self.cache.input_size),
                    "mask_rule": self.mask_rule.as_metadata(), "step": self.step}
            if self.init_from is not None:
                info["init_from"] = self.init_from
            save_model(self.run.network_file(folder, name), model, self.model_name, self.model_cfg, info)

    def save_best(self, which: str, scores: dict[str, float]) -> None:
        with self.run.staging(BEST) as tmp:
            self._save_weights(tmp, {"val_dice": scores, "best": which})
            link_or_copy(self.run.network_file(tmp, which), self.run.model_file(tmp))

    def train_state(self) -> dict[str, Any]:
        return {"step": self.step, "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": rng_state(), "best": dict(self.best),
                "initial_val_dice": self.initial_val_dice, "elapsed_s": self.elapsed(),
                "world_size": self.dist.world_size}

    def save_last(self) -> None:
        self._saved_step = self.step
        if self.dist.is_main:
            with self.run.staging(LAST) as tmp:
                self._save_weights(tmp, {"best": self.best})
                link_or_copy(self.run.network_file(tmp, "student"), self.run.model_file(tmp))
                save_train_state(self.run.state_file(tmp), self.train_state())
        self.dist.barrier()

    def load_last(self) -> bool:
        """Restore everything from checkpoints/last. False if there is no checkpoint to resume."""
        folder = self.run.checkpoint(LAST)
        if folder is None:
            return False
        state = load_train_state(self.run.state_file(folder))
        if state.get("world_size", 1) != self.dist.world_size:
            raise CheckpointError(
                f"{folder}: saved by a run with {state.get('world_size')} processes, resumed with "
                f"{self.dist.world_size}; resume with the same number of processes (the data order depends on it)")
        for name, model in self.models_to_save().items():
            model.load_state_dict(load_file(str(self.run.network_file(folder, name)), device=str(self.device)))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step = self._saved_step = int(state["step"])
        self.best = dict(state["best"])
        self.initial_val_dice = state.get("initial_val_dice")
        self._elapsed_before = float(state.get("elapsed_s", 0.0))
        self.metrics.load(up_to_step=self.step)
        log.info("resumed from %s at step %d", folder, self.step)
        return True

    def result(self) -> RunResult:
        return RunResult(
            run_dir=self.run_dir, steps=self.step, best_checkpoint=self.run.best_weights,
            best_dice=self.best["dice"], best_which=self.best["which"], best_step=self.best["step"],
            val_dice_student=self.last_val.get("student"), val_dice_teacher=self.last_val.get("teacher"),
            initial_val_dice=self.initial_val_dice, metrics_csv=self.metrics.path, rank=self.dist.rank)

    # ------------------------------------------------------------------ logging

    def elapsed(self) -> float:
        """Wall-clock seconds of training so far, summed over resumed sessions (not the time lost
        between a kill and the resume, nor the steps redone after it)."""
        return self._elapsed_before + time.perf_counter() - self._fit_start

    def _log_row(self) -> None:
        elapsed = self._busy
        row: dict[str, Any] = {"epoch": self.step / self.steps_per_epoch}
        for key in self._pending[-1]:
            row[key] = float(np.mean([p[key] for p in self._pending if key in p]))
        row["windows_per_s"] = self._window_count / elapsed if elapsed > 0 else math.nan
        row["elapsed_s"] = self.elapsed()
        self._pending.clear()
        self._window_count = 0
        self._busy = 0.0
        if self.dist.is_main:
            self.metrics.add(self.step, row)
            self.metrics.write()

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)

    def _postfix(self, logs: dict[str, float]) -> dict[str, str]:
        out = {"loss": f"{logs['loss']:.4f}"}
        if "loss_cons" in logs:
            out["cons"] = f"{logs['loss_cons']:.4f}"
        row = self.metrics.rows.get(max(self.metrics.rows, default=0), {})
        if "windows_per_s" in row:
            out["win/s"] = f"{row['windows_per_s']:.1f}"
        if self.last_val:
            out["val"] = "/".join(f"{v:.3f}" for v in self.last_val.values())
        return out

    def _diverged(self, losses: dict[str, torch.Tensor]) -> None:
        values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in losses.items())
        last = self.run.checkpoint(LAST)
        # --resume refuses a changed optim.lr (and would diverge again unchanged): a new run is the way on.
        if last:
            advice = (f"the last good checkpoint is {last}. Lower optim.lr or check the data, then start a new run "
                      f"in another --out, from those weights with --init {last}")
        else:
            advice = "no checkpoint was saved yet. Lower optim.lr or check the data, then start the run again"
        raise TrainingDiverged(f"loss is not finite at step {self.step + 1} ({values}); training stopped and the "
                               f"weights were not updated; {advice}")


@contextlib.contextmanager
def frozen_running_statistics(model: nn.Module):
    """Forward passes inside use the batch's statistics but leave BatchNorm's running statistics as they are."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:  # the count weights a cumulative average (momentum None)
                m.num_batches_tracked.copy_(tracked)


class MeanTeacherTrainer(Trainer):
    """Mean teacher (Tarvainen & Valpola 2017) as in the paper: the supervised loss on labelled
    windows plus lambda(t) * consistency between the student's and the EMA teacher's probabilities
    on unlabelled windows (each seeing its own perturbation of the same window).

    The student (`mean_teacher.student_batchnorm`): "separate" (default) runs on the labelled windows
    and then on the unlabelled ones, whose pass leaves the running statistics alone, so the labelled
    windows are normalised, and the student evaluated, as a supervised student would be; "joint" runs
    once on the concatenated batch, so BatchNorm normalises the labelled windows with statistics of
    the unlabelled ones too. With joint BatchNorm the student learned to rely on its perturbed batch
    partners and its test Dice fell 0.03-0.17 below a supervised run's (benchmarks/ablation_results.md,
    "Why the mean teacher hurts"). Under DDP both passes go through the wrapped model; the gradients
    of the two meet in each parameter's one accumulator, so the all-reduce sees their sum (tested).
    The teacher (`mean_teacher.teacher_batchnorm`):
    "batch" (default) makes its targets in train mode, BatchNorm on the teacher batch's statistics,
    as in Tarvainen & Valpola's code, and its running statistics come from those forward passes, so
    they describe its own (averaged) weights when it is validated or saved; under DDP they are
    rank 0's. "ema" makes them in eval mode with EMA-averaged running statistics, which lag the
    averaged weights (training/ema.py says by how much).

    Section 3.4 says the labelled frames "only guide the teacher"; with a teacher that is an EMA
    of the student (eq. 12) that can only mean through the student, so, as in Tarvainen & Valpola,
    the supervised loss trains the student and reaches the teacher through the EMA.
    """

    uses_unlabeled = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        mt = self.config.mean_teacher
        own_statistics = mt.teacher_batchnorm == "batch"
        self.ema = ModelEMA(self.student, decay=mt.ema_decay, warmup=mt.ema_warmup, average_buffers=not own_statistics)
        self.ema.module.train(own_statistics)  # validation switches it to eval and back
        self.ramp_steps = mt.ramp_steps or self.total_steps

    def compute_loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mt = self.config.mean_teacher
        labeled = self._input(batch["labeled"])
        teacher_input = self._input(batch["teacher"])
        if mt.fourier_style > 0:
            # the unlabelled windows' own low frequencies (target-domain style); _input again for the memory format
            labeled = self._input(fourier_style(labeled, teacher_input, mt.fourier_style))
        n_labeled = labeled.shape[0]
        mask = batch["mask"].to(self.device)
        aux = None
        if mt.student_batchnorm == "separate":
            logits, aux = self._separate_student_forward(labeled, self._input(batch["student"]), mask)
        with self.autocast():
            if mt.student_batchnorm != "separate":
                logits = self.forward_model(torch.cat([labeled, self._input(batch["student"])]))
            with torch.no_grad():
                teacher_logits = self.ema.module(teacher_input)
        sup = supervised_loss(logits[:n_labeled], mask, self.config.optim.dice_weight, self.config.optim.bce_weight)
        teacher_probs = torch.sigmoid(teacher_logits.float())
        confident = confident_pixels(teacher_probs, mt.confidence)
        cons = consistency_loss(torch.sigmoid(logits[n_labeled:].float()), teacher_probs, mt.mse_weight, mt.kl_weight,
                                confident)
        lam = mt.consistency_weight * consistency_ramp(self.step, self.ramp_steps)
        losses = {"loss": sup["loss"] + lam * cons["loss"], "loss_sup": sup["loss"], "loss_dice": sup["dice"],
                  "loss_bce": sup["bce"], "loss_cons": cons["loss"], "loss_mse": cons["mse"], "loss_kl": cons["kl"],
                  "lambda": torch.tensor(lam)}
        if confident is not None:
            losses["confident"] = confident.mean()
        return self._add_auxiliary(losses, mask, n_labeled, aux)

    def _separate_student_forward(self, labeled: torch.Tensor, unlabeled: torch.Tensor, mask: torch.Tensor
                                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`student_batchnorm=separate`: the student on the labelled windows, then on the unlabelled ones
        with the running statistics left alone. Returns the logits of both (labelled first, as the joint
        pass) and the auxiliary losses of both passes: a loss both give is their mean weighted by windows
        (what one pass over the whole batch gives for the per-window means they are), one only the
        labelled pass gives (label terms) is kept as is."""
        with self.autocast():
            logits_labeled = self.forward_model(labeled)
        parts = [(collect_auxiliary_losses(self.student, mask, labeled.shape[0]), labeled.shape[0])]
        with self.autocast(), frozen_running_statistics(self.student):
            logits_unlabeled = self.forward_model(unlabeled)
        parts.append((collect_auxiliary_losses(self.student, None, 0), unlabeled.shape[0]))
        aux: dict[str, torch.Tensor] = {}
        for name in sorted({name for losses, _ in parts for name in losses}):  # a fixed order: sums are bitwise repeatable
            given = [(losses[name], n) for losses, n in parts if name in losses]
            aux[name] = sum(loss * n for loss, n in given) / sum(n for _, n in given)
        return torch.cat([logits_labeled, logits_unlabeled]), aux

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        logs = super().train_step(batch)
        logs["ema_decay"] = self.ema.update(self.student, self.step)
        return logs

    @torch.no_grad()
    def validation_step(self) -> dict[str, float]:
        return {"student": self._score(self.student), "teacher": self._score(self.ema.module)}

    def models_to_save(self) -> dict[str, nn.Module]:
        return {"student": self.student, "teacher": self.ema.module}
