"""`echoseg compare`: SSCF against the paper's competitors on the same folds and budget (Tables 3/4, 6, 7)."""

from __future__ import annotations

import argparse

from echoseg.commands._options import non_negative_int, output_folder, positive_float, positive_int
from echoseg.commands.cv import add_protocol_arguments, report_result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="train and evaluate SSCF and the paper's competitors on the same folds: Tables 3/4, 6, 7",
        description="Train every model on the same patient-level folds with the same config (schedule, "
        "augmentation, input size, batch sizes, seed), evaluate each fold's test videos, and write the "
        "paper's comparison tables next to its numbers: Table 3/4 (DC, HD, AUC: mean ± std over folds, with "
        "paired bootstrap 95% CIs of each model minus SSCF over the test videos), Table 6 (EF corr, "
        "bias ± std) and Table 7 (params, GFLOPs at 256x256, ms/frame). Writes OUT/compare_tables.md and "
        "OUT/compare_summary.json; each run's report is under OUT/runs/<model>/fold<i>/. Rerunning with the "
        "same --out skips finished runs and resumes an interrupted one.")
    add_protocol_arguments(parser)
    parser.add_argument("--models", default=None,
                        help="comma-separated registry names (default: sscf and all competitors: sscf,dff,accel,"
                        "tdnet,joint_motion,clstm,mfp_net,joint_net,transunet,planet,echonet_deeplabv3,simlvseg3d)")
    parser.add_argument("--folds", type=non_negative_int, default=5,
                        help="k >= 2: patient-level k-fold (default 5, the paper's); 0: the dataset's own split")
    parser.add_argument("--fold-seed", type=non_negative_int, default=0, help="seed of the patient shuffle that makes the folds")
    parser.add_argument("--model-set", dest="model_settings", action="append", default=[], metavar="MODEL.KEY=VALUE",
                        help="a setting of one model, e.g. simlvseg3d.window=5 or dff.flow_weight=0 (repeatable). "
                        "Competitors otherwise take only the config's model width; SSCF-family models (unet, "
                        "baseline*, sscf) take the config's model settings")
    parser.add_argument("--competitors-mean-teacher", action="store_true",
                        help="train the competitors in the config's mean-teacher framework too (default: "
                        "supervised, plus their own auxiliary losses)")
    parser.add_argument("--reference", default="sscf", help="the model the paired CIs compare with (default sscf)")
    parser.add_argument("--paper-table", choices=["echonet", "camus"], default=None,
                        help="which of the paper's tables to print beside ours (default: camus for CAMUS data, "
                        "echonet otherwise)")
    parser.add_argument("--bootstrap", type=positive_int, default=2000, help="bootstrap resamples of the paired CIs")
    parser.add_argument("--no-timing", action="store_true",
                        help="Table 7 without ms/frame (params and GFLOPs only; timing all models at 256x256 and "
                        "full width takes minutes on a CPU)")
    parser.add_argument("--time-size", type=positive_int, default=256, help="input size of Table 7 (default 256, the paper's)")
    parser.add_argument("--time-width", type=positive_float, default=1.0,
                        help="width multiplier of Table 7's networks (default 1.0, the paper's)")
    parser.add_argument("--time-frames", type=positive_int, default=4, help="frames of the random video timed per model")
    parser.add_argument("--time-mode", default="channels_last", choices=["fp32", "channels_last", "bf16"],
                        help="CPU inference mode timed (as in `echoseg bench model --modes`)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.errors import EchosegError
    from echoseg.training.config import resolve_config
    from echoseg.workflows.compare import Efficiency, parse_model_settings, run_compare

    if args.folds == 1:
        raise EchosegError(f"--folds must be 0 (the dataset's split) or at least 2, got {args.folds}")
    if args.time_size % 16:
        raise EchosegError(f"--time-size must be a positive multiple of 16, got {args.time_size}")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    config = resolve_config(args.config, args.overrides)
    output_folder(args.out, [args.data], create=False)
    efficiency = Efficiency(size=args.time_size, width=args.time_width, mode=args.time_mode,
                            frames=0 if args.no_timing else args.time_frames)
    result = run_compare(config, args.data, args.format, args.out, models=models, folds=args.folds,
                         fold_seed=args.fold_seed, limit_folds=args.limit_folds,
                         model_settings=parse_model_settings(args.model_settings),
                         competitors_mean_teacher=args.competitors_mean_teacher, efficiency=efficiency,
                         paper=args.paper_table, n_boot=args.bootstrap, reference=args.reference,
                         progress=not args.no_progress, finished_only=args.finished_only)
    return report_result(result)
