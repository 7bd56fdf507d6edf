"""`echoseg demo`: synthesize, train SSCF with mean teacher, evaluate, predict and report, on the CPU."""

from __future__ import annotations

import argparse

from echoseg.commands._options import non_negative_int, output_folder, output_path, positive_int
from echoseg.commands.synth import APPEARANCES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the main job end to end on built-in synthetic data (minutes on a laptop CPU)",
        description="Synthesize an EchoNet-style dataset, train the full SSCF network with mean teacher on the "
        "CPU preset (only ED/ES labelled), evaluate on held-out videos (ED/ES and all frames), predict two "
        "test videos and write OUT/report.html. Rerunning with the same --out resumes where it stopped.",
    )
    parser.add_argument("--out", type=output_path, default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--videos", type=positive_int, default=48, help="synthetic videos to generate (70/15/15 split)")
    parser.add_argument("--frames", type=positive_int, default=None,
                        help="frames per synthetic video (default: drawn in 100-250 per video for realistic, as "
                        "EchoNet-Dynamic's; 64 for easy/medium/hard)")
    parser.add_argument("--size", type=positive_int, default=112, help="frame size in pixels (EchoNet: 112)")
    parser.add_argument("--difficulty", choices=APPEARANCES, default="realistic",
                        help="synthetic appearance preset: realistic (matched to real EchoNet-Dynamic statistics) "
                        "or the classic easy/medium/hard (default: realistic)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the synthetic dataset")
    parser.add_argument("--config", default="cpu", help="training preset name (cpu, paper) or YAML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training config value, e.g. --set optim.steps=300 (repeatable)")
    parser.add_argument("--predict", dest="predict_count", type=non_negative_int, default=2,
                        help="how many test videos to run through `predict` (0: skip that step)")
    parser.add_argument("--postprocess", action="store_true",
                        help="masks after keeping the largest connected component and filling holes, in model "
                        "selection, evaluation and predict (default: the raw threshold-0.5 mask, as the paper)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    parser.set_defaults(func=run)


# The 70/15/15 split (data.synthetic.generator.assign_splits) gives a test video from 5 videos on; with
# fewer, training ran and then the evaluation failed (no test split; with 1-2 videos no validation either).
MIN_DEMO_VIDEOS = 5


def run(args: argparse.Namespace) -> int:
    from echoseg.errors import EchosegError
    from echoseg.workflows.demo import DemoSettings, run_demo

    if args.videos < MIN_DEMO_VIDEOS:
        raise EchosegError(f"--videos {args.videos}: the demo needs at least {MIN_DEMO_VIDEOS} (its 70/15/15 split "
                           "must give training, validation and test videos)")

    settings = DemoSettings(out=output_folder(args.out, create=False), videos=args.videos, frames=args.frames, size=args.size,
                            difficulty=args.difficulty, seed=args.seed, config=args.config,
                            overrides=args.overrides + (["runtime.val_postprocess=true"] if args.postprocess else []),
                            predict_count=args.predict_count,
                            progress=not args.no_progress)
    result = run_demo(settings)
    h = result.headline

    def fmt(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    print("\nechoseg demo: held-out synthetic test videos")
    print(f"  Dice ED/ES (per-image mean) {fmt(h['dice_ed_es_mean'])}   pooled {fmt(h['dice_ed_es_pooled'])}")
    print(f"  Dice all frames (mean)      {fmt(h['dice_all_frames_mean'])}")
    print(f"  HD95 ED/ES (mean)           {fmt(h['hd95_ed_es_mean'], 2)} {h['distance_unit']}")
    print(f"  EF MAE vs reference         {fmt(h['ef_mae_vs_reference'], 2)} points "
          f"(r = {fmt(h['ef_corr_vs_reference'], 2)}); vs EF of the true masks {fmt(h['ef_mae_vs_true_masks'], 2)}")
    print(f"  best weights: {h['best_weights']} (validation Dice {fmt(h['best_val_dice'])})")
    print(f"  time (s): {', '.join(f'{k} {v}' for k, v in result.seconds.items())}")
    print(f"\nreport: {result.report}")
    return 0
