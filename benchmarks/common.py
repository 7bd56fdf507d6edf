"""What the benchmarks share: the machine they ran on, synthetic samples, the paper's numbers."""

from __future__ import annotations

import os
import platform

import torch

from echoseg.data.schema import EchoSample
from echoseg.data.synthetic import generate_dataset
from echoseg.evaluation import paper_tables


def machine_description() -> str:
    """One line for a results file: processor, CPU count (shared with other jobs), torch version."""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), "
            f"torch {torch.__version__}")


def synthetic_samples(videos: int, seed: int, *, frames: int, size: int = 112,
                      difficulty: str = "medium") -> list[EchoSample]:
    """`videos` generated synthetic EchoSamples (masks on every frame), in memory."""
    return [v.sample for v in generate_dataset(videos, seed=seed, frames=frames, size=size, difficulty=difficulty)]


def paper_dice_hd(dataset: str = "echonet") -> dict[str, tuple[float, float]]:
    """{model: (Dice %, HD mm)} of the paper's tables (`echoseg.evaluation.paper_tables`)."""
    return {m: (v["dice"][0], v["hd"][0]) for m, v in paper_tables.SEGMENTATION[dataset].items()}
