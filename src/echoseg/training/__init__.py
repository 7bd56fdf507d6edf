"""Training: the paper's mean-teacher recipe over a decoded-frame cache, resumable, single process or DDP.

    from echoseg.training import train, resolve_config
    result = train(resolve_config("cpu", ["optim.steps=200"]), "data/synth", "synthetic", "runs/cpu")
"""

from echoseg.training.api import train
from echoseg.training.config import TrainConfig, available_presets, resolve_config
from echoseg.training.trainer import MeanTeacherTrainer, RunResult, Trainer, TrainingDiverged

__all__ = ["MeanTeacherTrainer", "RunResult", "TrainConfig", "Trainer", "TrainingDiverged", "available_presets",
           "resolve_config", "train"]
