"""`echoseg adapt`: adapt a model to your own untraced videos, without tracings."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from echoseg.commands._options import output_path, positive_int

    parser = subparsers.add_parser(
        "adapt", help="adapt the built-in model (or yours) to your own untraced videos; no tracings needed",
        description="Start from the built-in model (or --init), train with the mean teacher on freshly "
        "synthesized labelled video while the consistency loss learns from your untraced videos (only "
        "pixels the teacher is sure of), then check without labels which of the starting model, the adapted "
        "one and their versions with BatchNorm statistics of your videos gives the most plausible masks "
        "(one beating blob, smooth in time, an EF that counts). The starting model is kept unless another "
        "is better with a bootstrap CI above 0 and keeps your videos' mean EF within --max-ef-shift points. "
        "Writes RUN/model.safetensors (use it with `echoseg predict --checkpoint RUN`), RUN/adapt_report.json "
        "and the training run in RUN/train. Rerun to resume.")
    parser.add_argument("videos", nargs="+", metavar="VIDEO",
                        help="your videos: files (AVI/MP4, DICOM, NIfTI, MetaImage), folders (searched "
                        "recursively) or an EchoNet FileList.csv, as `echoseg predict` takes them")
    parser.add_argument("--out", type=output_path, required=True,
                        help="run folder (new, or the same one again to resume); never inside a video folder")
    parser.add_argument("--init", metavar="WEIGHTS",
                        help="weights file or run folder to start from (default: the built-in model)")
    parser.add_argument("--config", default="cpu",
                        help="training preset (cpu, paper) or YAML file; the model and input size always come "
                        "from the starting weights (default: cpu)")
    parser.add_argument("--steps", type=positive_int, default=800,
                        help="training steps (default 800: about 20-40 min on 2 CPU cores for the built-in model)")
    parser.add_argument("--synthetic-videos", type=positive_int, default=120,
                        help="labelled synthetic videos to synthesize (default 120)")
    parser.add_argument("--check-videos", type=positive_int, default=40,
                        help="how many of your videos the label-free check runs on, evenly spread (default 40)")
    parser.add_argument("--max-ef-shift", type=float, default=None, metavar="POINTS",
                        help="a candidate whose mean EF over the check videos moves more than this from the "
                        "starting model's is not taken: plausibility cannot see masks that grow or shrink on "
                        "every video, and nothing without tracings can say which EF is right (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesis, training and check (default 0)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for training (default: the preset's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training setting after the recipe's, e.g. --set mean_teacher.confidence=0.8")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from echoseg.commands._options import output_folder
    from echoseg.workflows.adapt import AdaptSettings, adapt

    out = output_folder(args.out, args.videos, what="input")
    settings = AdaptSettings(videos=list(args.videos), out=Path(out), init=args.init, config=args.config,
                             overrides=list(args.overrides), steps=args.steps, synthetic_videos=args.synthetic_videos,
                             seed=args.seed, check_videos=args.check_videos, threads=args.threads)
    if args.max_ef_shift is not None:  # else AdaptSettings' default (MAX_EF_SHIFT; torch stays unloaded for --help)
        settings.max_ef_shift = args.max_ef_shift
    result = adapt(settings, progress=not args.no_progress)
    print("label-free plausibility on your videos (higher is better):")
    for name, summary in result.report["candidates"].items():
        gain = result.report["gain_over_start"].get(name)
        change = "" if gain is None else f"  gain {gain['mean']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]"
        if gain is not None and gain.get("ef_shift") is not None:
            change += f", mean EF {gain['ef_shift']:+.1f}" + (" (refused: over the limit)" if "refused" in gain else "")
        print(f"  {name:45s} {summary.get('score', float('nan')):.3f}{change}")
    print(f"kept: {result.chosen}")
    if result.chosen != "start":
        # Measured on real EchoNet-Dynamic video (benchmarks/RESULTS.md, issue 22): adaptation raised
        # plausibility and worsened EF against FileList, so a plausibility gain is no proof of accuracy.
        print("plausible is not proven right: check the overlays, and EF against a few known values, before "
              "trusting this model (on EchoNet-Dynamic, adapt raised plausibility while EF got worse: "
              "docs/real_video.md)")
    print(f"wrote {result.weights} (use: echoseg predict VIDEOS --checkpoint {out} --out PRED), "
          f"{out / 'adapt_report.json'} and the training run in {out / 'train'}")
    return 0
