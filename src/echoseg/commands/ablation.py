"""`echoseg ablation`: the paper's variant ablation (Table 2) or k sweep (Table 5) on the same folds and budget."""

from __future__ import annotations

import argparse

from echoseg.commands._options import non_negative_int, output_folder, positive_int
from echoseg.commands.cv import add_protocol_arguments, report_result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablation", help="train and evaluate every variant (or every k) on the same folds and budget: Table 2 / 5",
        description="Train and evaluate each variant with each seed on the same split and the same config "
        "(only the variant changes; `unet` trains supervised only on single frames, as in the paper's "
        "Table 2; one decoder for every row, --decoder), then print and write the table of mean ± std over "
        "seeds (DC, HD, HD missed, HD penalised, AUC, EF corr, EF MAE) and 95% confidence intervals of each "
        "row's difference from the baseline row that carry seed variance (a bootstrap resampling seeds, then "
        "the same test videos within them, each video paired with itself), with each seed's difference "
        "beside them, to OUT/ablation_table.md and OUT/ablation_summary.json. With --k: the k sweep (Table 5) "
        "with CPU ms/frame measured by the model benchmark's code.")
    add_protocol_arguments(parser)
    parser.add_argument("--variants", default=None,
                        help="comma-separated variants (default: the paper's Table 2 variants unet, baseline, "
                        "baseline_tce, baseline_bssf, sscf; with --k: sscf)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--k", default=None,
                        help="comma-separated windows k, e.g. 1,3,5,7: every variant at every k (Table 5) "
                        "with a ms/frame column")
    parser.add_argument("--folds", type=non_negative_int, default=0,
                        help="0 (default): the dataset's own train/val/test split; k >= 2: patient-level k-fold")
    parser.add_argument("--fold-seed", type=non_negative_int, default=0,
                        help="seed of the patient shuffle for --folds (and of the val cases carved from train "
                        "when the dataset has no val split)")
    parser.add_argument("--time-mode", default="channels_last", choices=["fp32", "channels_last", "bf16"],
                        help="inference mode timed for ms/frame (as in `echoseg bench model --modes`)")
    parser.add_argument("--time-frames", type=positive_int, default=16, help="frames of the random video timed per run")
    parser.add_argument("--decoder", default="unet", choices=["unet", "linknet", "variant"],
                        help="decoder of every row, so rows differ only in the ablated part: unet (default, the "
                        "paper's), linknet (the released network's), or variant (each variant's own default)")
    parser.add_argument("--mean-teacher", default="config", choices=["config", "both", "on", "off"],
                        help="config (default): as the config says (unet always supervised, as in the paper); "
                        "both: every temporal variant with and without the mean teacher; on / off: all with / "
                        "without")
    parser.add_argument("--label-fractions", default=None,
                        help="comma-separated fractions of the training videos whose traced frames are used, e.g. "
                        "0.125,0.25,1 (the rest are unlabelled; data.label_fraction): every row at every fraction")
    parser.set_defaults(func=run)


def _ints(text: str, option: str) -> list[int]:
    from echoseg.errors import EchosegError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EchosegError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise EchosegError(f"{option}: no values in {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from echoseg.errors import EchosegError
    from echoseg.models.variants import ABLATION_VARIANTS
    from echoseg.training.config import resolve_config
    from echoseg.workflows.ablation import run_ablation
    from echoseg.workflows.protocols import Timing

    windows = _ints(args.k, "--k") if args.k else None
    if windows:
        from echoseg.models.contract import check_window

        try:
            for k in windows:
                check_window(k)
        except ValueError as exc:
            raise EchosegError(f"--k: {exc}") from None
    default_variants = "sscf" if windows else ",".join(ABLATION_VARIANTS)
    variants = [v.strip() for v in (args.variants or default_variants).split(",") if v.strip()]
    seeds = _ints(args.seeds, "--seeds")
    if args.folds == 1 or args.folds < 0:
        raise EchosegError(f"--folds must be 0 (the dataset's split) or at least 2, got {args.folds}")
    fractions = None
    if args.label_fractions:
        try:
            fractions = [float(v) for v in args.label_fractions.split(",") if v.strip()]
        except ValueError:
            raise EchosegError(f"--label-fractions: expected comma-separated numbers, got {args.label_fractions!r}") \
                from None
    config = resolve_config(args.config, args.overrides + (["runtime.val_postprocess=true"] if args.postprocess else []))
    timing = Timing(mode=args.time_mode, frames=args.time_frames) if windows else None
    output_folder(args.out, [args.data], create=False)
    result = run_ablation(config, args.data, args.format, args.out, variants=variants, seeds=seeds,
                          windows=windows, folds=args.folds, fold_seed=args.fold_seed,
                          limit_folds=args.limit_folds, timing=timing, progress=not args.no_progress,
                          decoder=None if args.decoder == "variant" else args.decoder,
                          mean_teacher=args.mean_teacher, label_fractions=fractions,
                          finished_only=args.finished_only)
    return report_result(result)
