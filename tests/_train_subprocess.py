"""Entry point for the kill -9 test: `python _train_subprocess.py OUT STEPS [--resume]` trains TinyNet."""

import sys

import torch

from _training_data import TinyNet, ellipse_dataset, tiny_overrides
from echoseg.training import resolve_config, train

if __name__ == "__main__":
    out, steps = sys.argv[1], int(sys.argv[2])
    config = resolve_config(None, tiny_overrides(steps) + ["runtime.checkpoint_interval=5", "runtime.val_interval=50"])
    torch.manual_seed(0)
    train(config, out_dir=out, samples=ellipse_dataset(), model=TinyNet(width=16), resume="--resume" in sys.argv)
