"""`echoseg cv`: patient-level k-fold cross-validation (train + evaluate every fold, mean ± std)."""

from __future__ import annotations

import argparse

from echoseg.commands._options import non_negative_int, output_folder, output_path, positive_int
from echoseg.data.readers import READERS


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `echoseg cv`, `echoseg ablation` and `echoseg compare`."""
    parser.add_argument("--data", required=True, help="dataset root folder")
    parser.add_argument("--format", required=True, choices=sorted(READERS),
                        help="layout of the dataset under --data")
    parser.add_argument("--config", required=True,
                        help="training preset name (cpu, paper) or YAML file; every run trains with it")
    parser.add_argument("--out", type=output_path, required=True,
                        help="output folder (never inside --data); rerunning with the same --out skips finished runs and resumes "
                        "an interrupted training")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training config value, e.g. --set optim.steps=300 (repeatable; "
                        "values parsed as YAML)")
    parser.add_argument("--limit-folds", type=positive_int, default=None, metavar="N",
                        help="run only the first N folds (quick checks)")
    parser.add_argument("--postprocess", action="store_true",
                        help="score masks after keeping the largest connected component and filling holes, and "
                        "select each run's best checkpoint by the same rule (default: the raw threshold-0.5 "
                        "mask, as the paper; same as --set runtime.val_postprocess=true)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    parser.add_argument("--finished-only", action="store_true",
                        help="train nothing: write the tables from the runs already finished in --out and list "
                        "the others as not run yet (an interim look at a campaign that spans days)")


def report_result(result) -> int:
    """Print a protocol's table, where it wrote, failed and not-yet-run runs; the exit status (1: a run failed)."""
    print(result.table)
    print(f"wrote {result.files['json']} and {result.files['markdown']}")
    for outcome in result.failed:
        print(f"{outcome.name} failed: {outcome.error} (details in {outcome.folder / 'run_error.txt'})")
    pending = [outcome for outcome in result.runs if outcome.pending]
    if pending:
        print(f"{len(pending)} of {len(result.runs)} runs not run yet (--finished-only); the tables hold the "
              "finished ones only")
    return 1 if result.failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cv", help="patient-level k-fold cross-validation: train and evaluate every fold, mean ± std",
        description="Split the patients into k folds (CAMUS: the official split when its lists are present), "
        "train on each fold's train/val cases, evaluate its test cases into OUT/fold<i>/ (report.html, "
        "metrics.json, ...) and write OUT/cv_summary.json and OUT/cv_summary.md (mean ± std across folds).")
    add_protocol_arguments(parser)
    parser.add_argument("--folds", type=positive_int, default=5, help="number of folds k (default 5: 80/20 as in the paper)")
    parser.add_argument("--fold-seed", "--seed", dest="fold_seed", type=non_negative_int, default=0,
                        help="seed of the patient shuffle that makes the folds, as in ablation and compare (--seed is "
                        "an older name for it; training seed: --set runtime.seed=S)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.errors import EchosegError
    from echoseg.training.config import resolve_config
    from echoseg.workflows.cv import run_cv

    if args.folds < 2:
        raise EchosegError(f"--folds must be at least 2, got {args.folds}")
    if args.limit_folds is not None and args.limit_folds < 1:
        raise EchosegError(f"--limit-folds must be at least 1, got {args.limit_folds}")
    config = resolve_config(args.config, args.overrides + (["runtime.val_postprocess=true"] if args.postprocess else []))
    output_folder(args.out, [args.data], create=False)
    result = run_cv(config, args.data, args.format, args.out, folds=args.folds, fold_seed=args.fold_seed,
                    limit_folds=args.limit_folds, progress=not args.no_progress, finished_only=args.finished_only)
    return report_result(result)
