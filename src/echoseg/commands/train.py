"""`echoseg train`: train a segmentation network (mean teacher by default) into a run folder."""

from __future__ import annotations

import argparse
import json
import shlex

from echoseg.commands._options import output_path
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
    parser.add_argument("--out", type=output_path, required=True,
                        help="run folder to create (or to continue with --resume); never inside --data")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=3e-4 --set data.input_size=[112,112] "
                        "(repeatable; values parsed as YAML)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from checkpoints/last (same config; same final weights)")
    parser.add_argument("--allow-bad-cases", action="store_true",
                        help="train on the usable cases even when more than data.max_bad_fraction (default 5%%) of "
                        "the dataset is left out for problems (each is listed either way, and in RUN/cases.csv)")
    parser.add_argument("--init", metavar="WEIGHTS",
                        help="start from these weights instead of random ones (fine-tuning): a weights file or a "
                        "run folder (its best weights); the network must be the same as the config's (model name "
                        "and settings), else the run stops with the difference. Recorded as model.init")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.commands._options import output_folder
    from echoseg.config import ConfigError
    from echoseg.errors import Interrupted
    from echoseg.training.api import load_run_config, train
    from echoseg.training.config import resolve_config
    from echoseg.training.trainer import TrainingInterrupted

    overrides = list(args.overrides)
    if args.init is not None:
        from pathlib import Path

        overrides.append(f"model.init={json.dumps(str(Path(args.init).resolve()))}")
    if args.allow_bad_cases:
        overrides.append("data.max_bad_fraction=1")
    if args.config is None and args.resume:
        config = load_run_config(args.out, overrides)
    elif args.config is None:
        raise ConfigError("--config is required for a new run (a preset: cpu, paper; or a YAML file)")
    else:
        config = resolve_config(args.config, overrides)
    # Created by training only once the data is accepted: a refused run leaves no empty folder.
    output_folder(args.out, [args.data], create=False)
    try:
        result = train(config, args.data, args.format, args.out, resume=args.resume, progress=not args.no_progress)
    except TrainingInterrupted as exc:
        if exc.checkpoint is None:
            raise Interrupted(f"{exc}; start again with the same command") from None
        command = shlex.join(["echoseg", "train", "--data", str(args.data), "--format", args.format,
                              "--out", str(args.out), "--resume"])
        raise Interrupted(f"{exc}; resume with: {command}") from None
    if result.rank != 0:
        return 0
    if result.best_checkpoint is not None and result.best_dice is not None:
        print(f"best checkpoint: {result.best_checkpoint} ({result.best_which}, validation Dice "
              f"{result.best_dice:.4f} at step {result.best_step})")
    print(f"run folder: {result.run_dir} ({result.steps} steps)")
    return 0
