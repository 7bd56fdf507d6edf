"""`train(...)`: from a dataset (or samples) and a config to a finished run folder."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import yaml

from echoseg.config import ConfigError, dump_yaml, from_dict, to_dict
from echoseg.data.identity import dataset_identity
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.data.screening import LeftOut, listing_left_out
from echoseg.data.splits import dataset_split
from echoseg.errors import DataError, EchosegError
from echoseg.io import atomic_write_text
from echoseg.models.checkpoint import load_initial_weights, read_metadata
from echoseg.models.weights_files import find_weights
from echoseg.training.cache import ChainedSource, FrameCache, InMemorySource, SampleSource, build_frame_cache
from echoseg.training.config import TrainConfig, resolve_config
from echoseg.training.data_use import DataUse
from echoseg.training.distributed import DistContext, setup
from echoseg.training.run_folder import RunFolder
from echoseg.training.trainer import MeanTeacherTrainer, RunResult, Trainer

log = logging.getLogger(__name__)

# Settings that may change between a run and its resume without changing what is computed.
RESUMABLE_CHANGES = {"data.num_workers", "data.prefetch_factor", "data.cache_dir", "data.max_bad_fraction",
                     "runtime.device",
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
        train, val = dataset_split(records, config.data.val_fraction, config.runtime.seed)
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
                  dist: DistContext, unlabeled: SampleSource | None = None,
                  unlabeled_id: str = "") -> tuple[FrameCache, list[int], list[int], DataUse]:
    """Build (rank 0) or open (other ranks, after rank 0) the frame cache of the train + val cases
    (and of the `unlabeled` source's videos, split "unlabeled").

    Cases the screening rejects (`echoseg.data.screening`) are left out: those found while listing
    before the split's cases are cached, those found while loading by the cache build. Returns the
    cache, its train and val entries, and what became of every case of the dataset (DataUse)."""
    left_out = listing_left_out(source)
    excluded = {item.case_id for item in left_out}
    records = source.records()
    if not records and left_out:  # "the train split has none" would hide that every case was left out
        raise EchosegError(f"no training cases: all {len(left_out)} cases the dataset names were left out, e.g. "
                           f"{left_out[0].case_id}: {left_out[0].reason}")
    # The split is made on every listed case, so which cases are bad never moves a good one between train and val.
    train_ids, val_ids = split_cases(records, config)
    cases = [(c, "train") for c in train_ids if c not in excluded] + [(c, "val") for c in val_ids if c not in excluded]
    extra_ids: set[str] = set()
    if unlabeled is not None:
        extra_ids = {r.case_id for r in unlabeled.records()}
        cases += [(c, "unlabeled") for c in sorted(extra_ids)]
        source, source_id = ChainedSource([source, unlabeled]), f"{source_id}+{unlabeled_id}"
    size = tuple(config.data.input_size)
    if dist.is_main:
        cache = build_frame_cache(source, cases, size, cache_dir, source_id)
    dist.barrier()
    if not dist.is_main:
        cache = build_frame_cache(source, cases, size, cache_dir, source_id)
    for item in cache.skipped:
        if item["case_id"] in extra_ids:
            log.warning("untraced video left out: %s", item["problem"])
        else:
            left_out.append(LeftOut(item["case_id"], item["problem"]))
    train, val = cache.indices("train"), cache.indices("val")
    use = DataUse(records, [cache.entries[i].case_id for i in train], [cache.entries[i].case_id for i in val], left_out,
                  unlabeled=len(cache.indices("unlabeled")))
    return cache, train, val, use


def check_dataset_identity(run: RunFolder, identity: dict, resume: bool) -> None:
    """On resume, refuse data other than the run's (RUN/dataset.json); a moved copy is accepted."""
    if not resume or not run.dataset.is_file():
        if resume:
            log.warning("%s records no dataset (made by an older echoseg): cannot check that --data is the same",
                        run.path)
        return
    try:
        saved = json.loads(run.dataset.read_text())
    except (OSError, ValueError) as exc:
        raise EchosegError(f"{run.dataset}: unreadable ({exc}); cannot check the data of this run") from None
    same = saved.get("fingerprint") == identity["fingerprint"] and saved.get("format") == identity["format"]
    if same:
        if saved.get("path") != identity["path"]:
            log.info("dataset moved: %s holds the same data as %s, where this run started", identity["path"],
                     saved.get("path"))
        return
    if saved.get("path") == identity["path"] and saved.get("format") == identity["format"]:
        problem = f"{identity['path']} has changed since the run started (fingerprint {saved.get('fingerprint')} " \
                  f"then, {identity['fingerprint']} now)"
    else:
        problem = (f"it was trained on {saved.get('path')} ({saved.get('format')}, fingerprint {saved.get('fingerprint')}), "
                   f"--data is {identity['path']} ({identity['format']}, fingerprint {identity['fingerprint']})")
    raise EchosegError(f"{run.path}: cannot resume on different data: {problem}. Resume with the run's own data, "
                       "or start a new run in another --out")


def config_differences(saved: dict[str, Any], current: dict[str, Any],
                       ignore: Iterable[str] = RESUMABLE_CHANGES) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (saved value, current value)} of the settings two resolved configs differ in,
    leaving out `ignore` (settings that do not change what is computed). A setting the saved config lacks
    was added to echoseg after that run started; the run behaved as its default, so it is a change only
    when the current value is not the default."""
    before, now, ignored = flatten_config(saved), flatten_config(current), set(ignore)
    defaults = flatten_config(to_dict(TrainConfig()))
    for key in now.keys() - before.keys():
        if key in defaults:
            before[key] = defaults[key]
    return {key: (before.get(key), now.get(key)) for key in sorted(before.keys() | now.keys())
            if before.get(key) != now.get(key) and key not in ignored}


def check_resume_config(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    differences = sorted(config_differences(saved, current))
    if differences:
        raise ConfigError(f"{where}: cannot resume with a different config; changed: {differences} "
                          f"(only {sorted(RESUMABLE_CHANGES)} may change)")


def flatten_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim.lr": 1e-3, ...} of a config dict; model.settings stays one value (its keys vary by model)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "settings":
            out.update(flatten_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """The resolved config saved in a run folder (for --resume without --config)."""
    path = RunFolder(run_dir).config
    if not path.is_file():
        raise ConfigError(f"{path}: no config.yaml in the run folder; is this a training run?")
    from echoseg.config import apply_overrides, read_yaml

    cfg = from_dict(TrainConfig, apply_overrides(read_yaml(path), overrides or []))
    cfg.validate()
    return cfg


def initialise(model: nn.Module, config: TrainConfig, load: bool = True) -> dict[str, Any]:
    """Load `config.model.init` (a weights file or a run folder: its best weights) into `model`
    (only read its metadata with `load=False`). Returns {"path", "sha256", "model", "input_size",
    "note"}, recorded in the run's weights files (provenance)."""
    path = find_weights(config.model.init)
    if load:
        info = load_initial_weights(model, path, config.model.name, config.model.create_kwargs())
    else:
        info = read_metadata(path)
    size = info.extra.get("input_size")
    if size and list(size) != list(config.data.input_size):
        log.warning("%s was trained at %s; this run trains at %s (convolutional weights transfer across sizes)",
                    path, list(size), list(config.data.input_size))
    log.info("starting from the weights in %s (sha256 %s)", path, info.sha256[:12])
    return {"path": str(path.resolve()), "sha256": info.sha256, "model": info.model, "input_size": size,
            "note": info.extra.get("note")}


def train(config: TrainConfig | str | Path | None, data_root: str | Path | None = None, data_format: str | None = None,
          out_dir: str | Path = "runs/train", resume: bool = False, *, samples: Iterable[EchoSample] | None = None,
          model: nn.Module | None = None, progress: bool = False, until_step: int | None = None,
          unlabeled: SampleSource | None = None, unlabeled_id: str = "") -> RunResult:
    """Train a model and return where its run folder and best checkpoint are.

    config:      a TrainConfig, a preset name ("cpu", "paper") or a YAML path; None with `resume`
                 uses the run folder's config.yaml.
    data_root, data_format: a dataset opened with `open_dataset` (echonet | camus | synthetic), or
    samples:     EchoSamples in memory instead (their `split` says train/val/test).
    model:       a built network (model contract: `echoseg.models.contract.SegmentationModel`) instead of
                 `create_model(config.model.name, ...)`; its weights are saved under config.model.name.
    resume:      continue from RUN/checkpoints/last (same config; ends as an uninterrupted run would).
    until_step:  stop after this step (checkpoint saved) as if interrupted; resume later.
    config.data.unlabeled: untraced videos for the consistency loss, read here
                 (`echoseg.training.unlabeled.unlabeled_videos`); `unlabeled` (with `unlabeled_id` naming
                 its content for the frame cache) gives another source instead.
    config.model.init: start from these weights (a weights file or run folder) instead of random ones;
                 the network must be the same, else CheckpointError. A resumed run continues from its
                 own checkpoint instead.
    """
    out_dir = Path(out_dir)
    config = _resolved(config, out_dir, resume)
    run = RunFolder(out_dir)
    if resume and run.config.is_file():
        check_resume_config(yaml.safe_load(run.config.read_text()), to_dict(config), out_dir)
    elif not resume and run.can_resume():
        raise EchosegError(f"{out_dir}: already holds a training run; pass --resume to continue it or choose another --out")

    # The network first: a bad model setting or --init weights of another network stop the run before the
    # frame cache is built.
    model_cfg = config.model.create_kwargs()
    model = model if model is not None else _new_model(config, model_cfg)
    init_from = None
    if config.model.init:  # a resumed run continues from its own checkpoint, not from these weights
        init_from = initialise(model, config, load=not (resume and run.can_resume()))
    source, source_id, identity = _open_source(config, data_root, data_format, samples, out_dir)
    check_dataset_identity(run, identity, resume)
    if unlabeled is None and config.data.unlabeled:
        from echoseg.training.unlabeled import unlabeled_videos

        unlabeled = unlabeled_videos(config.data.unlabeled)
        unlabeled_id = unlabeled.fingerprint()
    if unlabeled is not None and not config.mean_teacher.enabled:
        log.warning("untraced videos are only used by the mean teacher's consistency loss; it is off")

    dist = setup(config.runtime.device)
    try:
        cache_dir = Path(config.data.cache_dir) if config.data.cache_dir else run.cache
        with _removed_if_refused([out_dir, cache_dir] if dist.is_main else []):
            cache, train_videos, val_videos, use = prepare_cache(source, source_id, config, cache_dir, dist,
                                                                 unlabeled, unlabeled_id)
            if dist.is_main:
                use.report(run.cases)
            use.check(config.data.max_bad_fraction)
        if dist.is_main:
            run.path.mkdir(parents=True, exist_ok=True)
            use.write_csv(run.cases)
            if not (resume and run.dataset.is_file()):
                atomic_write_text(run.dataset, json.dumps(identity, indent=2) + "\n")

        if not val_videos:
            log.warning("no validation cases: no `best` checkpoint will be chosen; use checkpoints/last")
        trainer_cls = MeanTeacherTrainer if config.mean_teacher.enabled else Trainer
        trainer = trainer_cls(config, model, cache, train_videos, val_videos, out_dir, model_name=config.model.name,
                              model_cfg=model_cfg, dist=dist, progress=progress, init_from=init_from)
        if dist.is_main:
            atomic_write_text(run.config, dump_yaml(config))
        if resume and not trainer.load_last():
            log.warning("%s: no checkpoint to resume from; starting from step 0", out_dir)
        return trainer.fit(until_step=until_step)
    finally:
        dist.close()


@contextlib.contextmanager
def _removed_if_refused(folders: list[Path]):
    """Remove those of `folders` that this block creates when it refuses the run (bad cases, no
    training cases): a refused run leaves no empty --out or frame cache behind; a run folder that held
    something before keeps it."""
    new = [_outermost_missing(folder) for folder in folders if not folder.exists()]
    try:
        yield
    except EchosegError:
        for folder in new:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _outermost_missing(folder: Path) -> Path:
    """The highest of `folder` and its parents that does not exist yet: what creating it would make."""
    folder = folder.absolute()
    while not folder.parent.exists():
        folder = folder.parent
    return folder


def _resolved(config: TrainConfig | str | Path | None, out_dir: Path, resume: bool) -> TrainConfig:
    """The validated TrainConfig of `train`'s `config` argument (None: the run folder's, when resuming)."""
    if config is None:
        if not resume:
            raise ConfigError("a config is needed to start a run")
        config = load_run_config(out_dir)
    elif not isinstance(config, TrainConfig):
        config = resolve_config(config)
    config.validate()
    return config


def _new_model(config: TrainConfig, model_cfg: dict[str, Any]) -> nn.Module:
    from echoseg.models.registry import create_model

    # The initial weights come from torch's global generator: seed it, so that they depend on
    # runtime.seed only, not on what ran before in this process (several runs, tests).
    torch.manual_seed(config.runtime.seed)
    try:
        return create_model(config.model.name, **model_cfg)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model {config.model.name!r} with settings {model_cfg}: {exc}") from None


def _open_source(config: TrainConfig, data_root, data_format, samples, out_dir: Path) -> tuple[SampleSource, str, dict]:
    """(the labelled source, its frame-cache id, its identity for dataset.json) of `train`'s data arguments."""
    if samples is not None:
        source: SampleSource = InMemorySource(samples)
        source_id = source.fingerprint()
        return source, source_id, {"path": None, "format": "in-memory", "fingerprint": source_id}
    if data_root is None or data_format is None:
        raise ConfigError("give data_root and data_format (or samples)")
    from echoseg.data.readers import open_dataset

    if not Path(data_root).is_dir():
        raise DataError(data_root, "dataset folder not found")
    source = open_dataset(data_root, data_format, crop_to_fan=config.data.crop_to_fan)
    source_id = dataset_fingerprint(data_root, data_format)
    if config.data.crop_to_fan:  # cropped frames must not share a cache with uncropped ones
        source_id = f"{source_id}-fan"
    return source, source_id, dataset_identity(data_root, data_format, exclude=[out_dir])
