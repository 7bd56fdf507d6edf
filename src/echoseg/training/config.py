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
TEACHER_BATCHNORM = ("batch", "ema")
STUDENT_BATCHNORM = ("joint", "separate")
UNLABELED_STREAMS = ("all", "extra")


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
    label_fraction: float = 1.0  # fraction of the training videos whose traced frames supervise (drawn by
    # runtime.seed, the same draw for every model); the others give only unlabelled windows (mean teacher)
    unlabeled: list[str] = field(default_factory=list)  # folders (or files) of untraced videos in any format
    # `echoseg predict` reads: every frame feeds only the consistency loss (a clinic's archive)
    unlabeled_stream: str = "all"  # all: the consistency loss sees every training video and data.unlabeled;
    # extra: data.unlabeled only (domain adaptation: the labelled videos come from another domain, e.g. synthetic)
    max_val_cases: int = 0  # 0 = all
    max_bad_fraction: float = 0.05  # refuse to train when more of the dataset's cases than this are left out
    # for problems (bad labels, missing or broken videos); 1 = train on whatever is usable
    cache_dir: str | None = None  # frame cache folder; None = <run>/cache
    crop_to_fan: bool = False  # cut each video to its ultrasound fan as `echoseg predict` does (scanner
    # exports); videos already cropped to their fan (EchoNet-Dynamic, CAMUS) are left as they are
    num_workers: int = 2  # DataLoader worker processes (0 = load in the training process)
    prefetch_factor: int = 4  # batches each worker prepares ahead


@dataclass
class AppearanceConfig:
    """Intensity augmentation of each training window (labelled, and unlabelled before the mean
    teacher's perturbations): what differs between scanners, settings and patients, so that a
    network trained on one source (e.g. synthetic video) meets another (real video) less surprised.
    One draw per window, the same for its k frames except the speckle noise (speckle decorrelates
    between frames). Off by default (the paper has none); the shipped presets turn it on."""

    enabled: bool = False
    prob: float = 0.8  # chance that a window is augmented at all
    gain: float = 0.25  # overall gain x * U(1-g, 1+g)
    contrast: float = 0.25  # contrast around the window's mean brightness, U(1-c, 1+c)
    gamma: float = 0.35  # display gamma x ** exp(U(-g, g))
    blur_prob: float = 0.3  # chance of a Gaussian blur (lateral resolution, zoomed exports)
    blur_sigma: float = 1.0  # its sigma ~ U(0.3, blur_sigma) px at the training input size
    speckle: float = 0.2  # multiplicative speckle noise x * (1 + U(0, s) * N(0, 1)), per frame
    dropout_prob: float = 0.3  # chance of a dropout patch: a smooth dim region (wall dropout, shadow)
    dropout_depth: float = 0.7  # up to this fraction of the signal removed at the patch centre


@dataclass
class AugmentConfig:
    """One spatial transform per window, applied identically to its k frames and its mask, then an
    appearance (intensity) augmentation."""

    enabled: bool = True
    hflip: float = 0.5  # probability of a horizontal flip
    vflip: float = 0.5  # probability of a vertical flip
    transpose: float = 0.5  # probability of a diagonal flip (square inputs only)
    rotate_deg: float = 15.0  # rotation drawn uniformly from [-rotate_deg, rotate_deg]
    zoom: float = 0.0  # scale drawn from [1 - zoom, 1 + zoom] (depth / zoom settings); 0 = off
    shift: float = 0.0  # translation drawn from [-shift, shift] x the input size, per axis; 0 = off
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)


@dataclass
class PerturbConfig:
    """Input perturbations that make the student's and the teacher's views of an unlabelled window
    differ (the paper is silent on them). Each view gets its own independent draw."""

    enabled: bool = True
    brightness: float = 0.1  # additive offset ~ U(-b, b), one per window
    contrast: float = 0.1  # gain ~ U(1-c, 1+c) around 0.5, one per window
    speckle_std: float = 0.1  # multiplicative per-pixel noise x * (1 + s * N(0, 1)), speckle-like
    gaussian_std: float = 0.03  # additive per-pixel noise s * N(0, 1)
    labeled: bool = False  # also perturb the labelled windows (one draw each, supervised runs too), so every
    # window the student's BatchNorm normalises comes from the same (perturbed) distribution


@dataclass
class ModelConfig:
    name: str = "sscf"  # registry name: unet | baseline | baseline_tce | baseline_bssf | sscf
    window: int | None = None  # k; None = the model's default (passed to create_model when set)
    settings: dict[str, Any] = field(default_factory=dict)  # other create_model settings (width, decoder, ...)
    init: str | None = None  # weights file or run folder to start from (fine-tuning); None = seeded random
    # weights. The network must be the same (name and settings); `echoseg train --init` sets it.

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
    init_lr_scale: float = 0.1  # with model.init (fine-tuning) the learning rate is lr x this: a trained
    # network moved at a from-scratch rate by a few videos can end worse than it began (issue 22)
    dice_weight: float = 0.5  # alpha of eq. 7
    bce_weight: float = 0.5  # beta of eq. 7


@dataclass
class MeanTeacherConfig:
    enabled: bool = True  # False: supervised only (the paper's `unet` ablation row)
    ema_decay: float = 0.99  # eta of eq. 12
    ema_warmup: bool = True  # decay = min(ema_decay, 1 - 1/(t+1)) early on (Tarvainen & Valpola's code)
    teacher_batchnorm: str = "batch"  # batch: the teacher makes its targets in train mode (BatchNorm on the
    # batch's statistics, as in Tarvainen & Valpola's code) and keeps its own running statistics for
    # evaluation; ema: eval-mode teacher with EMA-averaged running statistics (echoseg before
    # 2026-11-28; its validation Dice was 0 for much of a CPU-preset run, see training/ema.py)
    student_batchnorm: str = "separate"  # separate: two student passes, the labelled windows' batch statistics
    # and running statistics from the labelled windows only, the unlabelled windows' from their own batch;
    # joint: one pass over labelled + unlabelled windows (BatchNorm statistics of the mixed batch; echoseg
    # before 2026-11-29, test Dice 0.03-0.09 lower, benchmarks/ablation_results.md "Why the mean teacher hurts")
    consistency_weight: float = 1.0  # multiplies lambda(t)
    confidence: float = 0.0  # > 0: the consistency loss counts only pixels whose teacher probability of
    # either class reaches this (self-ensembling domain adaptation, French et al. 2018); 0 = every pixel
    ramp_steps: int = 0  # t_max of lambda(t) = (t / t_max) ** 2; 0 = the total number of steps (paper)
    fourier_style: float = 0.0  # > 0: each labelled window takes the low-frequency amplitude spectrum of an
    # unlabelled window (frequencies within this fraction of the input size; Fourier domain adaptation,
    # Yang & Soatto 2020, training/fourier_style.py); 0 = off
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
    val_postprocess: bool = False  # mask rule of validation, hence of model selection: False = threshold 0.5
    # (the paper's), True = largest component + holes filled; cv, ablation and demo test with the same rule
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

    def _check_input_memory(self) -> None:
        """ConfigError when one training batch's input frames alone (float32, student and teacher windows)
        cannot fit in the memory available: a lower bound of what the step needs (activations take
        many times more), so a size like [100000, 100000] is refused with the estimate, not OOM-killed."""
        h, w = (int(v) for v in self.data.input_size)
        if h <= 0 or w <= 0:
            raise ConfigError(f"data.input_size must be positive, got {list(self.data.input_size)}")
        windows = self.data.batch_labeled + (self.data.batch_unlabeled if self.mean_teacher.enabled else 0)
        frames = windows * (self.model.window or 3) * (2 if self.mean_teacher.enabled else 1)
        needed = frames * h * w * 4
        available = available_memory_bytes()
        if available is not None and needed > available:
            raise ConfigError(f"data.input_size {h}x{w}: one training batch's input frames alone take "
                              f"{needed / 2**30:.1f} GiB ({frames} frames of float32), more than the "
                              f"{available / 2**30:.1f} GiB available; use a smaller size (the paper's is 256x256)")

    def validate(self) -> None:
        """Every value in its range, or ConfigError naming the key, the value and the range."""
        h, w = self.data.input_size
        if h % 16 or w % 16 or h <= 0 or w <= 0:
            raise ConfigError(f"data.input_size must be positive multiples of 16, got {list(self.data.input_size)}")
        if not 0.0 < self.data.label_fraction <= 1.0:
            raise ConfigError(f"data.label_fraction must be in (0, 1], got {self.data.label_fraction}")
        if self.mean_teacher.enabled and self.data.batch_unlabeled < 1:
            raise ConfigError("data.batch_unlabeled must be >= 1 when mean_teacher.enabled")
        for key, check, expected in _RANGES:
            value = self
            for part in key.split("."):
                value = getattr(value, part)
            if not check(value):
                raise ConfigError(f"{key} must be {expected}, got {value!r}")
        if self.optim.steps <= 0 and self.optim.epochs <= 0:
            raise ConfigError("set optim.epochs or optim.steps to a positive number")
        self._check_input_memory()
        if self.optim.dice_weight == 0 and self.optim.bce_weight == 0:
            raise ConfigError("optim.dice_weight and optim.bce_weight are both 0: nothing to learn from")
        if self.model.window is not None and (self.model.window < 1 or self.model.window % 2 == 0):
            raise ConfigError(f"model.window must be an odd positive integer (or null), got {self.model.window}")
        if self.runtime.device != "auto":
            import torch

            try:
                torch.device(self.runtime.device)
            except (RuntimeError, ValueError):
                raise ConfigError(f"runtime.device {self.runtime.device!r} is not a torch device; use auto, cpu, "
                                  "cuda, cuda:N or mps") from None
        if self.data.unlabeled_stream not in UNLABELED_STREAMS:
            raise ConfigError(f"data.unlabeled_stream must be one of {list(UNLABELED_STREAMS)}, "
                              f"got {self.data.unlabeled_stream!r}")
        if self.data.unlabeled_stream == "extra" and not self.data.unlabeled:
            raise ConfigError("data.unlabeled_stream=extra needs data.unlabeled (the videos that feed the stream)")
        if self.mean_teacher.teacher_batchnorm not in TEACHER_BATCHNORM:
            raise ConfigError(f"mean_teacher.teacher_batchnorm must be one of {list(TEACHER_BATCHNORM)}, "
                              f"got {self.mean_teacher.teacher_batchnorm!r}")
        if self.mean_teacher.student_batchnorm not in STUDENT_BATCHNORM:
            raise ConfigError(f"mean_teacher.student_batchnorm must be one of {list(STUDENT_BATCHNORM)}, "
                              f"got {self.mean_teacher.student_batchnorm!r}")

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.optim.steps if self.optim.steps > 0 else self.optim.epochs * steps_per_epoch


def _at_least(low):
    return lambda v: v >= low


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), else None (then no memory check is made)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _between(low, high):
    return lambda v: low <= v <= high


# (key, check, what the key must be): every number of the config has a range.
_RANGES = [
    ("data.batch_labeled", _at_least(1), ">= 1"),
    ("data.batch_unlabeled", _at_least(0), ">= 0"),
    ("data.val_fraction", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("data.max_train_cases", _at_least(0), ">= 0 (0 = all)"),
    ("data.max_val_cases", _at_least(0), ">= 0 (0 = all)"),
    ("data.max_bad_fraction", _between(0, 1), "in [0, 1]"),
    ("data.num_workers", _at_least(0), ">= 0"),
    ("data.prefetch_factor", _at_least(1), ">= 1"),
    ("augment.hflip", _between(0, 1), "a probability in [0, 1]"),
    ("augment.vflip", _between(0, 1), "a probability in [0, 1]"),
    ("augment.transpose", _between(0, 1), "a probability in [0, 1]"),
    ("augment.rotate_deg", _between(0, 180), "in [0, 180] degrees"),
    ("augment.zoom", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("augment.shift", lambda v: 0 <= v < 0.5, "in [0, 0.5) of the input"),
    ("augment.appearance.prob", _between(0, 1), "a probability in [0, 1]"),
    ("augment.appearance.gain", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("augment.appearance.contrast", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("augment.appearance.gamma", _at_least(0), ">= 0"),
    ("augment.appearance.blur_prob", _between(0, 1), "a probability in [0, 1]"),
    ("augment.appearance.blur_sigma", _at_least(0.3), ">= 0.3 px"),
    ("augment.appearance.speckle", _at_least(0), ">= 0"),
    ("augment.appearance.dropout_prob", _between(0, 1), "a probability in [0, 1]"),
    ("augment.appearance.dropout_depth", _between(0, 1), "in [0, 1]"),
    ("mean_teacher.perturb.brightness", _between(0, 1), "in [0, 1]"),
    ("mean_teacher.perturb.contrast", _between(0, 1), "in [0, 1]"),
    ("mean_teacher.perturb.speckle_std", _at_least(0), ">= 0"),
    ("mean_teacher.perturb.gaussian_std", _at_least(0), ">= 0"),
    ("optim.lr", lambda v: v > 0, "> 0"),
    ("optim.weight_decay", _at_least(0), ">= 0"),
    ("optim.poly_power", _at_least(0), ">= 0"),
    ("optim.epochs", _at_least(0), ">= 0"),
    ("optim.steps", _at_least(0), ">= 0 (0 = use optim.epochs)"),
    ("optim.grad_clip", _at_least(0), ">= 0 (0 = off)"),
    ("optim.init_lr_scale", lambda v: v > 0, "> 0 (1 = the from-scratch rate)"),
    ("optim.dice_weight", _at_least(0), ">= 0"),
    ("optim.bce_weight", _at_least(0), ">= 0"),
    ("mean_teacher.ema_decay", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("mean_teacher.consistency_weight", _at_least(0), ">= 0"),
    ("mean_teacher.fourier_style", lambda v: 0 <= v < 0.5, "in [0, 0.5) of the input size (0 = off)"),
    ("mean_teacher.confidence", lambda v: v == 0 or 0.5 <= v < 1, "0 (off) or in [0.5, 1)"),
    ("mean_teacher.ramp_steps", _at_least(0), ">= 0 (0 = all steps)"),
    ("mean_teacher.mse_weight", _at_least(0), ">= 0"),
    ("mean_teacher.kl_weight", _at_least(0), ">= 0"),
    ("runtime.seed", _at_least(0), ">= 0"),
    ("runtime.amp_dtype", lambda v: v in ("none", "bf16", "fp16"), "none, bf16 or fp16"),
    ("runtime.threads", _at_least(0), ">= 0 (0 = automatic)"),
    ("runtime.val_interval", _at_least(0), ">= 0 (0 = once per epoch)"),
    ("runtime.checkpoint_interval", _at_least(0), ">= 0 (0 = at every validation)"),
    ("runtime.log_interval", _at_least(1), ">= 1"),
]


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
