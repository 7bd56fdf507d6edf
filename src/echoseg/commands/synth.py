"""`echoseg synth`: write a synthetic apical-4-chamber dataset in the EchoNet, CAMUS or native layout, or
as scanner exports (wide canvases with text, ECG and scales around an off-centre fan; AVI and DICOM)."""

from __future__ import annotations

import argparse
from pathlib import Path

from echoseg.commands._options import non_negative_float, non_negative_int, output_path, positive_int
from echoseg.data.readers import READERS

# Every layout a reader reads has a writer; scanner exports are inputs for `predict` (AVI/DICOM files).
FORMATS = [*sorted(READERS), "scanner-export"]
# The generator's appearance presets (echoseg.data.synthetic.DIFFICULTIES; listed here so that building
# the parser does not import OpenCV).
APPEARANCES = ("easy", "medium", "hard", "realistic")


# What the writers of each layout create at the top of OUT: --overwrite deletes these (of every layout,
# so a dataset of another layout cannot mix in), the export files an exports.csv lists, and nothing else.
DATASET_ENTRIES = ("FileList.csv", "VolumeTracings.csv", "Videos", "database_nifti", "database_split", "cases.csv",
                   "cases", "truth", "exports.csv")


def _prepare_folder(out: Path, overwrite: bool) -> None:
    """Refuse a folder that holds files (unless `overwrite`: then remove the dataset entries in it)."""
    import csv
    import shutil

    from echoseg.errors import EchosegError

    if out.exists() and not out.is_dir():
        raise EchosegError(f"{out}: exists and is not a folder")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not held:
        return
    if not overwrite:
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise EchosegError(f"{out} is not empty (holds {shown}): writing there would replace or mix with what it "
                           "holds; choose a new folder, or pass --overwrite to replace the dataset in it")
    entries = list(DATASET_ENTRIES)
    if (out / "exports.csv").is_file():
        with open(out / "exports.csv", newline="") as handle:
            entries += [row["file"] for row in csv.DictReader(handle) if row.get("file") and "/" not in row["file"]]
    for name in entries:
        entry = out / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic echo dataset (A4C videos with exact LV truth) in a real dataset's layout",
        description="Generate synthetic apical-4-chamber echo videos (speckle, irregular anisotropic motion, "
        "dropout) with LV truth on every frame, and write them as an EchoNet-Dynamic, CAMUS (NIfTI) or native "
        "dataset that `echoseg data` and training read. Deterministic by --seed.",
    )
    parser.add_argument("out", type=output_path, help="output folder: new or empty (a folder holding files is refused "
                        "unless --overwrite)")
    parser.add_argument("--format", choices=FORMATS, default="echonet",
                        help="layout: echonet (AVIs + FileList/VolumeTracings, ED/ES traced), camus (NIfTI, "
                        "half-sequence gt), synthetic (npz with masks on every frame), scanner-export (whole-screen "
                        "exports as --export-kinds files, truth/<case>.npz with the fan, masks and spacing, "
                        "exports.csv) (default: echonet)")
    parser.add_argument("--videos", type=positive_int, default=100, help="number of videos (default: 100)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed; the same seed gives the same files (default: 0)")
    parser.add_argument("--frames", type=positive_int, default=None,
                        help="frames per video, at least 16 (default: drawn in 100-250 per video for realistic, "
                        "64 for easy/medium/hard)")
    parser.add_argument("--size", type=positive_int, default=112, help="frame height and width in pixels, at least 32 "
                        "(default: 112, as EchoNet-Dynamic)")
    parser.add_argument("--difficulty", choices=APPEARANCES, default="realistic",
                        help="appearance preset: realistic (matched to measured statistics of real EchoNet-Dynamic "
                        "video, with per-video domain randomisation and EchoNet-like lengths of 100-250 frames) or "
                        "the classic easy/medium/hard (bright walls; noise, contrast, dropout and clutter grow) "
                        "(default: realistic)")
    parser.add_argument("--splits", type=non_negative_float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"),
                        help="fractions of videos in the train, val and test splits (default: 0.7 0.15 0.15)")
    parser.add_argument("--avi-suffix", action="store_true",
                        help="echonet: write FileList names with '.avi' as older releases did (default: without)")
    parser.add_argument("--camus-reverse-every", type=non_negative_int, default=0, metavar="N",
                        help="camus: store every N-th half sequence ES->ED, as some real ones are (default: 0, none)")
    parser.add_argument("--camus-two-chamber", action="store_true",
                        help="camus: also write the 2CH view of each heart; both cfgs then give the biplane EF")
    parser.add_argument("--export-kinds", default="avi,jpeg-baseline", metavar="KINDS",
                        help="scanner-export: comma-separated file kinds: avi, or a DICOM transfer syntax "
                        "(explicit, explicit-ybr422, explicit-mono, rle, jpeg-baseline, jpeg-lossless, jpeg2000, "
                        "jpeg2000-lossless) (default: avi,jpeg-baseline)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder that already holds files: the dataset files of every layout "
                        "(FileList.csv, VolumeTracings.csv, Videos/, database_nifti/, database_split/, cases.csv, "
                        "cases/, truth/, exports.csv and the exports it lists) are deleted first, so nothing of the "
                        "old dataset mixes with the new one")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from echoseg.data.synthetic import iter_dataset, write_camus, write_echonet, write_synthetic
    from echoseg.errors import EchosegError

    args.out = Path(args.out)
    if (args.frames is not None and args.frames < 16) or args.size < 32:
        raise EchosegError(f"need --frames >= 16 and --size >= 32, got {args.frames} and {args.size}")
    if min(args.splits) < 0 or sum(args.splits) <= 0:
        raise EchosegError(f"--splits must be non-negative and not all zero, got {args.splits}")
    _prepare_folder(args.out, args.overwrite)
    videos = iter_dataset(args.videos, args.seed, frames=args.frames, size=args.size, difficulty=args.difficulty,
                          split_fractions=tuple(args.splits))
    progress = tqdm(videos, total=args.videos, desc=f"synth {args.format}", unit="video", disable=args.no_progress)
    if args.format == "scanner-export":
        return _write_exports(args, progress)
    if args.format == "echonet":
        write_echonet(args.out, progress, avi_suffix=args.avi_suffix)
    elif args.format == "camus":
        write_camus(args.out, progress, reverse_every=args.camus_reverse_every, two_chamber=args.camus_two_chamber)
    else:
        write_synthetic(args.out, progress)
    length = f"{args.frames} frames" if args.frames else "frames drawn per video"
    print(f"wrote {args.videos} {args.difficulty} videos ({length}, {args.size}x{args.size}) "
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
    length = f"{args.frames} frames" if args.frames else "frames drawn per video"
    print(f"wrote {args.videos} scanner exports ({', '.join(kinds)}) of {args.difficulty} videos "
          f"({length}) with their truth to {args.out}")
    return 0
