"""`train(...)`: from a dataset (or samples) and a config to a finished run folder."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import yaml

from echoseg.config import ConfigError, dump_yaml, from_dict, to_dict
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.data.splits import hold_out_patients
from echoseg.errors import DataError, EchosegError
from echoseg.io import atomic_write_text
from echoseg.training.cache import FrameCache, InMemorySource, SampleSource, build_frame_cache
from echoseg.training.config import TrainConfig, resolve_config
from echoseg.training.distributed import DistContext, setup
from echoseg.training.run_folder import RunFolder
from echoseg.training.trainer import MeanTeacherTrainer, RunResult, Trainer

log = logging.getLogger(__name__)

# Settings that may change between a run and its resume without changing what is computed.
RESUMABLE_CHANGES = {"data.num_workers", "data.prefetch_factor", "data.cache_dir", "runtime.device",
                     "runtime.threads", "runtime.val_interval", "runtime.checkpoint_interval",
                     "runtime.log_interval", "runtime.compile"}


def read_split_file(path: str | Path, records: list[CaseRecord]) -> tuple[list[CaseRecord], list[CaseRecord]]:
    """(train records, val records) named by a split file {"train": [case ids], "val": [case ids]}.

    Other keys (a fold's "test" list, its "index") are ignored: test cases are never trained on.
    Every listed case must be in `records`, and no case may be in both lists.
    """
    path = Path(path)
    try:
        listing = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "split file not found (data.split_file)") from None
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a readable JSON split file: {exc}") from None
    if not isinstance(listing, dict) or not all(isinstance(listing.get(k, []), list) for k in ("train", "val")):
        raise DataError(path, 'expected a JSON object {"train": [case ids], "val": [case ids]}')
    train_ids, val_ids = [str(c) for c in listing.get("train", [])], [str(c) for c in listing.get("val", [])]
    by_id = {r.case_id: r for r in records}
    unknown = [c for c in train_ids + val_ids if c not in by_id]
    if unknown:
        raise DataError(path, f"{len(unknown)} listed case(s) not in the dataset, e.g. {unknown[:3]}")
    both = sorted(set(train_ids) & set(val_ids))
    if both:
        raise DataError(path, f"{len(both)} case(s) listed in both train and val, e.g. {both[:3]}")
    return [by_id[c] for c in train_ids], [by_id[c] for c in val_ids]


def split_cases(records: list[CaseRecord], config: TrainConfig) -> tuple[list[str], list[str]]:
    """(train case ids, val case ids). Test cases are never used.

    With `data.split_file` the file's lists are used as they are. Otherwise the source's splits;
    without a val split, a `val_fraction` of the training patients (seeded choice) is held out,
    whole patients at a time."""
    if config.data.split_file:
        train, val = read_split_file(config.data.split_file, records)
    else:
        train = [r for r in records if r.split in ("train", None)]
        val = [r for r in records if r.split == "val"]
    if not val and not config.data.split_file:
        chosen = hold_out_patients((r.patient_id for r in train), config.data.val_fraction, config.runtime.seed)
        val = [r for r in train if r.patient_id in chosen]
        train = [r for r in train if r.patient_id not in chosen]
    if config.data.max_train_cases:
        train = train[:config.data.max_train_cases]
    if config.data.max_val_cases:
        val = val[:config.data.max_val_cases]
    if not train:
        where = f"the split file {config.data.split_file}" if config.data.split_file else "the dataset's train split"
        raise EchosegError(f"no training cases: {where} has none")
    return [r.case_id for r in train], [r.case_id for r in val]


def dataset_fingerprint(data_root: str | Path, data_format: str) -> str:
    """Identity of a dataset on disk for the frame cache: its path plus the size and modification time of
    every top-level entry, so a dataset rewritten in place (e.g. `echoseg synth` into the same folder,
    which rewrites FileList.csv / cases.csv) never reuses frames cached from its previous content."""
    root = Path(data_root).resolve()
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir()) if root.is_dir() else []
    return f"{data_format}:{root}:{entries}"


def prepare_cache(source: SampleSource, source_id: str, config: TrainConfig, cache_dir: Path,
                  dist: DistContext) -> tuple[FrameCache, list[int], list[int]]:
    """Build (rank 0) or open (other ranks, after rank 0) the frame cache of the train + val cases."""
    train_ids, val_ids = split_cases(source.records(), config)
    cases = [(c, "train") for c in train_ids] + [(c, "val") for c in val_ids]
    size = tuple(config.data.input_size)
    if dist.is_main:
        cache = build_frame_cache(source, cases, size, cache_dir, source_id)
    dist.barrier()
    if not dist.is_main:
        cache = build_frame_cache(source, cases, size, cache_dir, source_id)
    if cache.skipped:
        log.warning("%d case(s) skipped while caching (listed in %s/index.json)", len(cache.skipped), cache.root)
    return cache, cache.indices("train"), cache.indices("val")


def check_resume_config(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    differences = sorted(k for k in _flatten(saved).keys() | _flatten(current).keys()
                         if _flatten(saved).get(k) != _flatten(current).get(k) and k not in RESUMABLE_CHANGES)
    if differences:
        raise ConfigError(f"{where}: cannot resume with a different config; changed: {differences} "
                          f"(only {sorted(RESUMABLE_CHANGES)} may change)")


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "settings":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """The resolved config saved in a run folder (for --resume without --config)."""
    path = RunFolder(run_dir).config
    if not path.is_file():
        raise ConfigError(f"{path}: no config.yaml in the run folder; is this a training run?")
    from echoseg.config import apply_overrides

    cfg = from_dict(TrainConfig, apply_overrides(yaml.safe_load(path.read_text()), overrides or []))
    cfg.validate()
    return cfg


def train(config: TrainConfig | str | Path | None, data_root: str | Path | None = None, data_format: str | None = None,
          out_dir: str | Path = "runs/train", resume: bool = False, *, samples: Iterable[EchoSample] | None = None,
          model: nn.Module | None = None, progress: bool = False, until_step: int | None = None) -> RunResult:
    """Train a model and return where its run folder and best checkpoint are.

    config:      a TrainConfig, a preset name ("cpu", "paper") or a YAML path; None with `resume`
                 uses the run folder's config.yaml.
    data_root, data_format: a dataset opened with `open_dataset` (echonet | camus | synthetic), or
    samples:     EchoSamples in memory instead (their `split` says train/val/test).
    model:       a built network (model contract: `window`, (B,k,H,W) -> (B,1,H,W) logits) instead of
                 `create_model(config.model.name, ...)`; its weights are saved under config.model.name.
    resume:      continue from RUN/checkpoints/last (same config; ends as an uninterrupted run would).
    until_step:  stop after this step (checkpoint saved) as if interrupted; resume later.
    """
    out_dir = Path(out_dir)
    if config is None:
        if not resume:
            raise ConfigError("a config is needed to start a run")
        config = load_run_config(out_dir)
    elif not isinstance(config, TrainConfig):
        config = resolve_config(config)
    config.validate()
    run = RunFolder(out_dir)
    if resume and run.config.is_file():
        check_resume_config(yaml.safe_load(run.config.read_text()), to_dict(config), out_dir)
    elif not resume and run.can_resume():
        raise EchosegError(f"{out_dir}: already holds a training run; pass --resume to continue it or choose another --out")

    dist = setup(config.runtime.device)
    try:
        if samples is not None:
            source: SampleSource = InMemorySource(samples)
            source_id = source.fingerprint()
        else:
            if data_root is None or data_format is None:
                raise ConfigError("give data_root and data_format (or samples)")
            from echoseg.data.readers import open_dataset

            source = open_dataset(data_root, data_format, crop_to_fan=config.data.crop_to_fan)
            source_id = dataset_fingerprint(data_root, data_format)
            if config.data.crop_to_fan:  # cropped frames must not share a cache with uncropped ones
                source_id = f"{source_id}-fan"
        cache_dir = Path(config.data.cache_dir) if config.data.cache_dir else run.cache
        cache, train_videos, val_videos = prepare_cache(source, source_id, config, cache_dir, dist)

        model_cfg = config.model.create_kwargs()
        if model is None:
            from echoseg.models.registry import create_model

            # The initial weights come from torch's global generator: seed it, so that they depend on
            # runtime.seed only, not on what ran before in this process (several runs, tests).
            torch.manual_seed(config.runtime.seed)
            try:
                model = create_model(config.model.name, **model_cfg)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"model {config.model.name!r} with settings {model_cfg}: {exc}") from None
        if not val_videos:
            log.warning("no validation cases: no `best` checkpoint will be chosen; use checkpoints/last")
        trainer_cls = MeanTeacherTrainer if config.mean_teacher.enabled else Trainer
        trainer = trainer_cls(config, model, cache, train_videos, val_videos, out_dir, model_name=config.model.name,
                              model_cfg=model_cfg, dist=dist, progress=progress)
        if dist.is_main:
            atomic_write_text(run.config, dump_yaml(config))
        if resume and not trainer.load_last():
            log.warning("%s: no checkpoint to resume from; starting from step 0", out_dir)
        return trainer.fit(until_step=until_step)
    finally:
        dist.close()
