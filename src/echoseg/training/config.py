"""Training configuration: nested dataclasses, YAML presets, `--set section.key=value` overrides.

Presets ship as package data in `echoseg/configs/` (`paper.yaml`, `cpu.yaml`); `resolve_config`
accepts a preset name or a YAML path. The resolved config is written into every run folder.

Batch sizes are per process: under torchrun with N processes the global batch is N times larger,
and the epoch (one pass over the labelled windows) has correspondingly fewer steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from echoseg.config import ConfigError, load_config

PRESETS_PACKAGE = "echoseg.configs"


@dataclass
class DataConfig:
    input_size: tuple[int, int] = (256, 256)  # (H, W) the videos are resized to; multiples of 16
    use_all_frame_labels: bool = False  # True: every frame with a mask is a labelled window (synthetic, CAMUS
    # half-sequence); False: only ED and ES, the real EchoNet setting
    batch_labeled: int = 4  # labelled windows per step and process
    batch_unlabeled: int = 4  # unlabelled windows per step and process (mean teacher only)
    val_fraction: float = 0.1  # held out from train (by patient) when the source has no val split
    split_file: str | None = None  # JSON {"train": [case ids], "val": [case ids]}: use exactly these cases
    # (cross-validation folds: `echoseg cv` writes one per fold); None = the source's own splits
    max_train_cases: int = 0  # 0 = all; otherwise the first N train cases (quick runs)
    max_val_cases: int = 0  # 0 = all
    cache_dir: str | None = None  # frame cache folder; None = <run>/cache
    crop_to_fan: bool = False  # cut each video to its ultrasound fan as `echoseg predict` does (scanner
    # exports); videos already cropped to their fan (EchoNet-Dynamic, CAMUS) are left as they are
    num_workers: int = 2  # DataLoader worker processes (0 = load in the training process)
    prefetch_factor: int = 4  # batches each worker prepares ahead


@dataclass
class AugmentConfig:
    """One spatial transform per window, applied identically to its k frames and its mask."""

    enabled: bool = True
    hflip: float = 0.5  # probability of a horizontal flip
    vflip: float = 0.5  # probability of a vertical flip
    transpose: float = 0.5  # probability of a diagonal flip (square inputs only)
    rotate_deg: float = 15.0  # rotation drawn uniformly from [-rotate_deg, rotate_deg]


@dataclass
class PerturbConfig:
    """Input perturbations that make the student's and the teacher's views of an unlabelled window
    differ (the paper is silent on them). Each view gets its own independent draw."""

    enabled: bool = True
    brightness: float = 0.1  # additive offset ~ U(-b, b), one per window
    contrast: float = 0.1  # gain ~ U(1-c, 1+c) around 0.5, one per window
    speckle_std: float = 0.1  # multiplicative per-pixel noise x * (1 + s * N(0, 1)), speckle-like
    gaussian_std: float = 0.03  # additive per-pixel noise s * N(0, 1)


@dataclass
class ModelConfig:
    name: str = "sscf"  # registry name: unet | baseline | baseline_tce | baseline_bssf | sscf
    window: int | None = None  # k; None = the model's default (passed to create_model when set)
    settings: dict[str, Any] = field(default_factory=dict)  # other create_model settings (width, decoder, ...)

    def create_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.settings)
        if self.window is not None:
            kwargs["window"] = self.window
        return kwargs


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 1e-6  # L2: Adam adds wd * w to the gradient, the gradient of wd/2 * ||w||^2 (eq. 7)
    poly_power: float = 0.9  # lr(t) = lr * (1 - t / total) ** power
    epochs: int = 100  # one epoch = one pass over the labelled windows
    steps: int = 0  # > 0: train this many steps instead of `epochs`
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    dice_weight: float = 0.5  # alpha of eq. 7
    bce_weight: float = 0.5  # beta of eq. 7


@dataclass
class MeanTeacherConfig:
    enabled: bool = True  # False: supervised only (the paper's `unet` ablation row)
    ema_decay: float = 0.99  # eta of eq. 12
    ema_warmup: bool = True  # decay = min(ema_decay, 1 - 1/(t+1)) early on (Tarvainen & Valpola's code)
    consistency_weight: float = 1.0  # multiplies lambda(t)
    ramp_steps: int = 0  # t_max of lambda(t) = (t / t_max) ** 2; 0 = the total number of steps (paper)
    mse_weight: float = 0.5  # alpha of eq. 10
    kl_weight: float = 0.5  # beta of eq. 10
    perturb: PerturbConfig = field(default_factory=PerturbConfig)


@dataclass
class RuntimeConfig:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun: cuda:LOCAL_RANK)
    amp_dtype: str = "none"  # none | bf16 | fp16 (fp16 uses a gradient scaler; GPU)
    channels_last: bool = False
    compile: bool = False  # torch.compile the student
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default
    val_interval: int = 0  # steps between validations; 0 = once per epoch
    val_at_start: bool = True  # validate the untrained network (the curve's starting point)
    checkpoint_interval: int = 0  # steps between `last` checkpoints; 0 = at every validation
    log_interval: int = 10  # steps between metrics.csv rows


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mean_teacher: MeanTeacherConfig = field(default_factory=MeanTeacherConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        h, w = self.data.input_size
        if h % 16 or w % 16 or h <= 0 or w <= 0:
            raise ConfigError(f"data.input_size must be positive multiples of 16, got {self.data.input_size}")
        if self.data.batch_labeled < 1:
            raise ConfigError("data.batch_labeled must be >= 1")
        if self.mean_teacher.enabled and self.data.batch_unlabeled < 1:
            raise ConfigError("data.batch_unlabeled must be >= 1 when mean_teacher.enabled")
        if self.optim.steps <= 0 and self.optim.epochs <= 0:
            raise ConfigError("set optim.epochs or optim.steps to a positive number")
        if self.runtime.amp_dtype not in ("none", "bf16", "fp16"):
            raise ConfigError(f"runtime.amp_dtype must be none, bf16 or fp16, got {self.runtime.amp_dtype!r}")
        if not 0.0 <= self.mean_teacher.ema_decay < 1.0:
            raise ConfigError("mean_teacher.ema_decay must be in [0, 1)")

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.optim.steps if self.optim.steps > 0 else self.optim.epochs * steps_per_epoch


def available_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(PRESETS_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    """The YAML file of a shipped preset (`paper`, `cpu`, ...)."""
    candidate = resources.files(PRESETS_PACKAGE) / f"{name}.yaml"
    if not candidate.is_file():
        raise ConfigError(f"no preset named {name!r}; presets: {available_presets()} (or give a YAML path)")
    return Path(str(candidate))


def resolve_config(config: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """TrainConfig from a preset name or YAML path (None = defaults), then `key=value` overrides."""
    path: Path | None = None
    if config is not None:
        path = Path(config)
        if not path.is_file():
            if path.suffix in (".yaml", ".yml") or "/" in str(config):
                raise ConfigError(f"{config}: config file not found")
            path = preset_path(str(config))
    cfg = load_config(TrainConfig, path, overrides)
    cfg.validate()
    return cfg


def steps_per_epoch(n_labeled_windows: int, global_batch_labeled: int) -> int:
    return max(1, math.ceil(n_labeled_windows / global_batch_labeled))
