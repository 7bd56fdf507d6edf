"""`echoseg synth`: write a synthetic apical-4-chamber dataset in the EchoNet, CAMUS or native layout, or
as scanner exports (wide canvases with text, ECG and scales around an off-centre fan; AVI and DICOM)."""

from __future__ import annotations

import argparse
from pathlib import Path

from echoseg.data.readers import READERS

# Every layout a reader reads has a writer; scanner exports are inputs for `predict` (AVI/DICOM files).
FORMATS = [*sorted(READERS), "scanner-export"]


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic echo dataset (A4C videos with exact LV truth) in a real dataset's layout",
        description="Generate synthetic apical-4-chamber echo videos (speckle, irregular anisotropic motion, "
        "dropout) with LV truth on every frame, and write them as an EchoNet-Dynamic, CAMUS (NIfTI) or native "
        "dataset that `echoseg data` and training read. Deterministic by --seed.",
    )
    parser.add_argument("out", type=Path, help="output folder (created; existing files of the same names are replaced)")
    parser.add_argument("--format", choices=FORMATS, default="echonet",
                        help="layout: echonet (AVIs + FileList/VolumeTracings, ED/ES traced), camus (NIfTI, "
                        "half-sequence gt), synthetic (npz with masks on every frame), scanner-export (whole-screen "
                        "exports as --export-kinds files, truth/<case>.npz with the fan, masks and spacing, "
                        "exports.csv) (default: echonet)")
    parser.add_argument("--videos", type=_positive, default=100, help="number of videos (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default: 0)")
    parser.add_argument("--frames", type=_positive, default=64, help="frames per video, at least 16 (default: 64)")
    parser.add_argument("--size", type=_positive, default=112, help="frame height and width in pixels, at least 32 "
                        "(default: 112, as EchoNet-Dynamic)")
    parser.add_argument("--difficulty", choices=("easy", "medium", "hard"), default="medium",
                        help="image quality: noise, LV/wall contrast, dropout and clutter (default: medium)")
    parser.add_argument("--splits", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"),
                        help="fractions of videos in the train, val and test splits (default: 0.7 0.15 0.15)")
    parser.add_argument("--avi-suffix", action="store_true",
                        help="echonet: write FileList names with '.avi' as older releases did (default: without)")
    parser.add_argument("--camus-reverse-every", type=int, default=0, metavar="N",
                        help="camus: store every N-th half sequence ES->ED, as some real ones are (default: 0, none)")
    parser.add_argument("--camus-two-chamber", action="store_true",
                        help="camus: also write the 2CH view of each heart; both cfgs then give the biplane EF")
    parser.add_argument("--export-kinds", default="avi,jpeg-baseline", metavar="KINDS",
                        help="scanner-export: comma-separated file kinds: avi, or a DICOM transfer syntax "
                        "(explicit, explicit-ybr422, explicit-mono, rle, jpeg-baseline, jpeg-lossless, jpeg2000, "
                        "jpeg2000-lossless) (default: avi,jpeg-baseline)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from echoseg.data.synthetic import iter_dataset, write_camus, write_echonet, write_synthetic
    from echoseg.errors import EchosegError

    if args.frames < 16 or args.size < 32:
        raise EchosegError(f"need --frames >= 16 and --size >= 32, got {args.frames} and {args.size}")
    if min(args.splits) < 0 or sum(args.splits) <= 0:
        raise EchosegError(f"--splits must be non-negative and not all zero, got {args.splits}")
    videos = iter_dataset(args.videos, args.seed, frames=args.frames, size=args.size, difficulty=args.difficulty,
                          split_fractions=tuple(args.splits))
    progress = tqdm(videos, total=args.videos, desc=f"synth {args.format}", unit="video")
    if args.format == "scanner-export":
        return _write_exports(args, progress)
    if args.format == "echonet":
        write_echonet(args.out, progress, avi_suffix=args.avi_suffix)
    elif args.format == "camus":
        write_camus(args.out, progress, reverse_every=args.camus_reverse_every, two_chamber=args.camus_two_chamber)
    else:
        write_synthetic(args.out, progress)
    print(f"wrote {args.videos} {args.difficulty} videos ({args.frames} frames, {args.size}x{args.size}) "
          f"in {args.format} layout to {args.out}")
    return 0


def _write_exports(args: argparse.Namespace, videos) -> int:
    from echoseg.data.synthetic.export import render_export
    from echoseg.data.synthetic.export_files import SYNTAXES, write_export_dataset
    from echoseg.errors import EchosegError

    kinds = [k.strip() for k in args.export_kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k != "avi" and k not in SYNTAXES]
    if not kinds or unknown:
        raise EchosegError(f"--export-kinds: unknown kind(s) {unknown or kinds}; choose from avi, {', '.join(SYNTAXES)}")
    exports = (render_export(video, args.seed * 100_003 + i) for i, video in enumerate(videos))
    write_export_dataset(args.out, exports, kinds=kinds)
    print(f"wrote {args.videos} scanner exports ({', '.join(kinds)}) of {args.difficulty} videos "
          f"({args.frames} frames) with their truth to {args.out}")
    return 0
