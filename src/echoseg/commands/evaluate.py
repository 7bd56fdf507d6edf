"""`echoseg evaluate`: score a trained model on a dataset split and write the report.

Writes into --out: metrics.json (every summary with its definition), per_case.csv (one row per
video, failed ones with their error), per_frame.csv, plots/*.png and a self-contained report.html.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

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
    parser.add_argument("--out", required=True, help="output folder for the report files (created if missing)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N cases of the split")
    parser.add_argument("--batch-size", type=int, default=16, help="frame windows per forward pass (default: 16)")
    parser.add_argument("--device", default=None,
                        help="torch device for inference, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument("--annotated-only", action="store_true",
                        help="score only the ED and ES frames even where masks exist for every frame")
    parser.add_argument("--worst", type=int, default=4,
                        help="how many lowest-Dice cases to show with overlays and area curves (default: 4)")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from echoseg.data.readers import open_dataset
    from echoseg.errors import EchosegError
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.evaluation.report import write_report
    from echoseg.inference.segmenter import load_segmenter

    if args.limit is not None and args.limit < 1:
        raise EchosegError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise EchosegError(f"--batch-size must be at least 1, got {args.batch_size}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    segmenter = load_segmenter(args.checkpoint, device=device, batch_size=args.batch_size)
    data = Path(args.data)
    if not data.exists():
        raise EchosegError(f"{data}: dataset folder not found")
    reader = open_dataset(data, args.format)
    split = None if args.split == "all" else args.split
    result = evaluate_model(segmenter, reader, split=split, all_frames=not args.annotated_only,
                            progress=not args.no_progress, limit=args.limit, keep_worst=args.worst)
    model_name = segmenter.weights.model
    info = {"checkpoint": str(args.checkpoint), "model": model_name, "data": f"{data} ({args.format})",
            "input size": "x".join(map(str, segmenter.input_size)), "mask rule": segmenter.mask_rule.describe()}
    files = write_report(result, args.out, title=f"echoseg evaluation: {model_name} on {data.name}",
                         info=info, n_cases=args.worst)
    for problem in reader.problems:
        log.warning("%s: %s", problem.path, problem.problem)
    print(_console_summary(result.summary))
    print(f"wrote {', '.join(str(p) for p in files.values())}")
    if result.errors:
        print(f"{len(result.errors)} case(s) failed; listed in {files['per_case']} and the report")
    return 0 if result.cases else 1


def _console_summary(summary: dict) -> str:
    unit = summary.get("distance_unit")
    lines = []
    for name, g in summary.get("groups", {}).items():
        lines.append(f"{name:>10}: n={g['n_frames']:<5} Dice {g['dice_mean']['mean']:.4f} ± {g['dice_mean']['std']:.4f} "
                     f"(pooled {g['dice_pooled']['value']:.4f})  HD {g['hd']['mean']:.2f} {unit}  "
                     f"HD95 {g['hd95']['mean']:.2f} {unit}  AUC {g['auc_mean']['mean']:.4f}")
    mono = summary.get("ef", {}).get("monoplane", {})
    for key in ("pred_vs_true_masks", "pred_vs_reference"):
        a = mono.get(key, {})
        if a.get("n"):
            lines.append(f"EF {key}: n={a['n']} MAE {a['mae']:.2f} bias {a['bias']:+.2f} r {a['pearson_r']:.3f}")
    return "\n".join(lines)
