"""`echoseg train`: train a segmentation network (mean teacher by default) into a run folder."""

from __future__ import annotations

import argparse

from echoseg.data.readers import READERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a network on a dataset into a run folder (resumable; torchrun for several GPUs)",
        description="Train with the paper's mean-teacher recipe. Writes RUN/config.yaml, metrics.csv, "
        "training_curves.png and checkpoints/{last,best}. Several processes: "
        "`torchrun --nproc_per_node N -m echoseg train ...`.")
    parser.add_argument("--data", required=True, help="dataset root folder (the same one again with --resume)")
    parser.add_argument("--format", required=True, choices=sorted(READERS), help="dataset format of --data")
    parser.add_argument("--config", help="preset name (cpu, paper) or YAML file; with --resume defaults to RUN/config.yaml")
    parser.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=3e-4 --set data.input_size=[112,112] "
                        "(repeatable; values parsed as YAML)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from checkpoints/last (same config; same final weights)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.config import ConfigError
    from echoseg.training.api import load_run_config, train
    from echoseg.training.config import resolve_config

    if args.config is None and args.resume:
        config = load_run_config(args.out, args.overrides)
    elif args.config is None:
        raise ConfigError("--config is required for a new run (a preset: cpu, paper; or a YAML file)")
    else:
        config = resolve_config(args.config, args.overrides)
    result = train(config, args.data, args.format, args.out, resume=args.resume, progress=not args.no_progress)
    if result.rank != 0:
        return 0
    if result.best_checkpoint is not None and result.best_dice is not None:
        print(f"best checkpoint: {result.best_checkpoint} ({result.best_which}, validation Dice "
              f"{result.best_dice:.4f} at step {result.best_step})")
    print(f"run folder: {result.run_dir} ({result.steps} steps)")
    return 0
