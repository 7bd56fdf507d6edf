"""Training throughput: the data pipeline alone vs the training step alone (windows/s).

    python -m benchmarks.bench_training [--config cpu] [--videos 12] [--paper]

Builds a frame cache from synthetic videos, then measures with the preset's model and batch sizes:
- the pipeline: DataLoader over `TwoStreamBatches` (cache reads, augmentation, perturbations) with
  0, 1 and 2 workers, no model;
- the step: `train_step` (forward, losses, backward, Adam, EMA) on a ready batch, no data loading.
A window is one (k, H, W) input: labelled + unlabelled windows per step. The issue asks for the
pipeline to be >= 5x faster than the step on the CPU preset. `--paper` also times paper.yaml's step
(SSCF width 1.0, 256x256) for a few steps. `--time-to-dice 0.9` trains the preset on synthetic
medium data (validating every 25 steps) and reports the wall-clock time until the validation Dice
(student or teacher) first reaches the target. Numbers are noisy on a shared machine: compare the
ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import synthetic_samples
from echoseg.models.registry import create_model
from echoseg.training import train
from echoseg.training.api import prepare_cache
from echoseg.training.cache import InMemorySource
from echoseg.training.config import resolve_config
from echoseg.training.dataset import cv2_serial_for_fork
from echoseg.training.distributed import DistContext
from echoseg.training.trainer import MeanTeacherTrainer, Trainer


def build_trainer(preset: str, videos: int, workdir: Path, overrides: list[str]):
    config = resolve_config(preset, overrides)
    samples = synthetic_samples(videos, 0, frames=48)
    source = InMemorySource(samples)
    cache, train_videos, val_videos, _ = prepare_cache(source, source.fingerprint(), config, workdir / "cache",
                                                    DistContext())
    model = create_model(config.model.name, **config.model.create_kwargs())
    cls = MeanTeacherTrainer if config.mean_teacher.enabled else Trainer
    return cls(config, model, cache, train_videos, val_videos, workdir / "run")


def windows_per_batch(batch) -> int:
    return int(batch["labeled"].shape[0]) + (int(batch["student"].shape[0]) if "student" in batch else 0)


def pipeline_rate(trainer, workers: int, steps: int) -> float:
    trainer.config.data.num_workers = workers
    with cv2_serial_for_fork():
        batches = iter(trainer._loader(0, steps + 5))
    for _ in range(5):  # worker start-up is not throughput
        next(batches)
    start, count = time.perf_counter(), 0
    for batch in batches:
        count += windows_per_batch(batch)
    return count / (time.perf_counter() - start)


def step_rate(trainer, steps: int) -> float:
    """Windows/s of `train_step` on one fixed batch after a warm-up step (on CUDA: synchronized)."""
    def synchronize() -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    batch = trainer.dataset[0]
    trainer.train_step(batch)  # warm-up (on CUDA also cuDNN autotuning and the allocator)
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batch)
    synchronize()
    return steps * windows_per_batch(batch) / (time.perf_counter() - start)


def time_to_dice(preset: str, target: float, videos: int, steps: int, workdir: Path) -> str:
    samples = synthetic_samples(videos, 7, frames=48)
    config = resolve_config(preset, [f"optim.steps={steps}", "runtime.val_interval=25"])
    result = train(config, out_dir=workdir / "time-to-dice", samples=samples)
    for row in csv.DictReader(open(result.metrics_csv)):
        scores = [float(row[k]) for k in ("val_dice_student", "val_dice_teacher") if row.get(k)]
        if scores and int(row["step"]) > 0 and max(scores) >= target:
            return f"validation Dice {max(scores):.3f} >= {target} at step {row['step']}, {float(row['elapsed_s']):.0f} s"
    return f"validation Dice never reached {target} in {steps} steps (best {result.best_dice:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="cpu", help="preset or YAML to benchmark")
    parser.add_argument("--videos", type=int, default=12, help="synthetic videos in the cache")
    parser.add_argument("--pipeline-steps", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the step")
    parser.add_argument("--paper", action="store_true", help="also time paper.yaml's training step (slow on CPU)")
    parser.add_argument("--time-to-dice", type=float, default=0.0, help="also train until this validation Dice")
    parser.add_argument("--max-steps", type=int, default=600, help="step budget for --time-to-dice")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(args.config, args.videos, Path(tmp), [])
        rates = {w: pipeline_rate(trainer, w, args.pipeline_steps) for w in (0, 1, 2)}
        step = step_rate(trainer, args.train_steps)
        c = trainer.config
        print(f"preset {args.config}: {c.model.name} {c.model.settings} {c.data.input_size} "
              f"batch {c.data.batch_labeled}+{c.data.batch_unlabeled if c.mean_teacher.enabled else 0}, "
              f"torch threads {args.threads}")
        for w, rate in rates.items():
            print(f"  pipeline, {w} worker(s): {rate:9.1f} windows/s  ({rate / step:7.1f}x the step)")
        print(f"  training step:          {step:9.1f} windows/s")
        if args.paper:
            paper = build_trainer("paper", 4, Path(tmp) / "paper", ["data.num_workers=0"])
            paper_step = step_rate(paper, 1)
            print(f"  paper.yaml step (sscf width 1.0, 256x256): {paper_step:.2f} windows/s")
            for w in (0, 1, 2):
                rate = pipeline_rate(paper, w, args.pipeline_steps // 4)
                print(f"  paper.yaml pipeline, {w} worker(s): {rate:9.1f} windows/s  ({rate / paper_step:7.1f}x the step)")
        if args.time_to_dice:
            print("  time to target: " + time_to_dice(args.config, args.time_to_dice, 16, args.max_steps, Path(tmp)))


if __name__ == "__main__":
    main()
