"""`echoseg evaluate`: score a trained model on a dataset split and write the report.

Writes into --out: metrics.json (every summary with its definition), per_case.csv (one row per
video, failed ones with their error), per_frame.csv, plots/*.png and a self-contained report.html.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from echoseg.commands._options import (
    add_engine_options,
    device_name,
    engine_request,
    non_negative_int,
    output_folder,
    output_path,
    positive_int,
)
from echoseg.data.readers import READERS

log = logging.getLogger("echoseg.evaluate")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a model on a dataset split: Dice, HD, AUC, EF agreement, report.html",
        description="Evaluate a trained model on a dataset split and write metrics.json, per_case.csv, "
        "per_frame.csv, plots and a self-contained report.html.")
    parser.add_argument("--checkpoint", required=True,
                        help="weights file (model.safetensors) or a run folder holding checkpoints/best/")
    parser.add_argument("--data", required=True, help="dataset root folder")
    parser.add_argument("--format", required=True, choices=sorted(READERS),
                        help="layout of the dataset under --data")
    parser.add_argument("--split", default="test", choices=["train", "val", "test", "all"],
                        help="which split to evaluate: train, val, test, or 'all' for every case (default: test)")
    parser.add_argument("--out", type=output_path, required=True,
                        help="output folder for the report files (created if missing; never inside --data)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier evaluation in --out (else a folder holding one is refused)")
    parser.add_argument("--limit", type=positive_int, default=None, help="evaluate only the first N cases of the split")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="frame windows per forward pass (default: 16)")
    parser.add_argument("--device", type=device_name, default=None,
                        help="torch device for inference, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument("--annotated-only", action="store_true",
                        help="score only the ED and ES frames even where masks exist for every frame")
    parser.add_argument("--worst", type=non_negative_int, default=4,
                        help="how many lowest-Dice cases to show with overlays and area curves (default: 4)")
    parser.add_argument("--postprocess", action=argparse.BooleanOptionalAction, default=None,
                        help="score masks after keeping the largest connected component and filling holes, or "
                        "not (--no-postprocess) (default: the rule the weights record, which training chose "
                        "its checkpoint with; the raw threshold-0.5 mask, as the paper, section 3.5, when "
                        "they record none)")
    parser.add_argument("--compare-postprocess", action="store_true",
                        help="also score the other mask rule from the same probabilities and show both")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    add_engine_options(parser, default="torch")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.data.readers import open_dataset
    from echoseg.errors import EchosegError
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.evaluation.report import write_report
    from echoseg.geometry.masks import MaskRule
    from echoseg.inference.segmenter import load_segmenter
    from echoseg.training.distributed import resolve_device

    device = resolve_device(args.device or "auto")
    if device.type == "cpu":
        import torch

        from echoseg.threads import default_threads

        torch.set_num_threads(default_threads())
    output_folder(args.out, [args.data], create=False)
    _refuse_earlier_evaluation(Path(args.out), args.overwrite)
    segmenter = load_segmenter(args.checkpoint, device=device, batch_size=args.batch_size,
                               clean=args.postprocess, channels_last=device.type == "cpu", **engine_request(args))
    rule = segmenter.mask_rule
    compare_rule = MaskRule(rule.threshold, clean=not rule.clean) if args.compare_postprocess else None
    data = Path(args.data)
    if not data.exists():
        raise EchosegError(f"{data}: dataset folder not found")
    reader = open_dataset(data, args.format)
    split = None if args.split == "all" else args.split
    result = evaluate_model(segmenter, reader, split=split, all_frames=not args.annotated_only,
                            progress=not args.no_progress, limit=args.limit, keep_worst=args.worst,
                            compare_rule=compare_rule)
    model_name = segmenter.weights.model
    info = {"checkpoint": str(args.checkpoint), "model": model_name, "data": f"{data} ({args.format})",
            "input size": "x".join(map(str, segmenter.input_size)), "mask rule": segmenter.mask_rule.describe(),
            "engine": f"{segmenter.engine.name} {segmenter.engine.precision}"}
    files = write_report(result, args.out, title=f"echoseg evaluation: {model_name} on {data.name}",
                         info=info, n_cases=args.worst)
    for problem in reader.problems:
        log.warning("%s: %s", problem.path, problem.problem)
    print(f"mask rule: {segmenter.mask_rule.describe()}")
    print(_console_summary(result.summary))
    if "compare" in result.summary:
        print(f"mask rule: {result.summary['compare']['mask_rule']}")
        print(_console_summary({**result.summary["compare"], "distance_unit": result.summary.get("distance_unit")}))
    print(f"wrote {', '.join(str(p) for p in files.values())}")
    if result.left_out:
        print(f"{len(result.left_out)} case(s) left out for labels `echoseg train` would not use; listed with "
              f"why in {files['per_case']}")
    if result.errors:
        # As predict: a batch job goes on past a bad case, and its exit status says that one failed.
        print(f"{len(result.errors)} case(s) failed; listed in {files['per_case']} and the report")
        return 1
    return 0 if result.cases else 1


def _refuse_earlier_evaluation(out: Path, overwrite: bool) -> None:
    """An earlier evaluation (perhaps of another checkpoint) is the user's result: replaced only on --overwrite."""
    from echoseg.errors import EchosegError
    from echoseg.evaluation.report import REPORT_FILES

    held = [name for name in REPORT_FILES.values() if (out / name).exists()]
    if held and not overwrite:
        raise EchosegError(f"{out} holds an earlier evaluation ({', '.join(held)}); pass --overwrite to replace it, "
                           "or choose another --out")


def _console_summary(summary: dict) -> str:
    unit = summary.get("distance_unit")
    lines = []
    for name, g in summary.get("groups", {}).items():
        lines.append(f"{name:>10}: n={g['n_frames']:<5} Dice {g['dice_mean']['mean']:.4f} ± {g['dice_mean']['std']:.4f} "
                     f"(pooled {g['dice_pooled']['value']:.4f})  HD {g['hd']['mean']:.2f} {unit} "
                     f"({g['counts']['hd_undefined']} missed; penalised {g['hd_penalised']['mean']:.2f})  "
                     f"HD95 {g['hd95']['mean']:.2f} {unit}  AUC {g['auc_mean']['mean']:.4f}")
    mono = summary.get("ef", {}).get("monoplane", {})
    for key in ("pred_vs_true_masks", "pred_vs_reference"):
        a = mono.get(key, {})
        if a.get("n"):
            lines.append(f"EF {key}: n={a['n']} MAE {a['mae']:.2f} bias {a['bias']:+.2f} r {a['pearson_r']:.3f}")
    return "\n".join(lines)
