"""`echoseg data summary|preview`: look at a dataset before training on it.

summary: cases, splits, frames, annotated frames, EF distribution, ED/ES-order findings and every
problem found; each case is loaded to check it (bad cases are listed, the rest still summarised).
`--out cases.csv` writes one row per case, with the dataset's EF next to the EF our method of disks
computes from the ground-truth masks (and, for EchoNet, from the tracing rows), and the summary prints
their mean absolute difference.

preview: a PNG strip of frames of one case with the ground-truth LV outline, ED and ES marked.
"""

from __future__ import annotations

import argparse

from echoseg.commands._options import output_file, output_path, positive_int
from echoseg.data.readers import READERS, open_dataset


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="dataset folder (EchoNet: holds FileList.csv; CAMUS: holds database_nifti/ "
                        "or training/testing/; synthetic: written by `echoseg synth`)")
    parser.add_argument("--format", required=True, choices=sorted(READERS),
                        help="dataset layout: echonet (EchoNet-Dynamic), camus (NIfTI or MetaImage release), synthetic")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect a dataset: summary with a sanity check, preview images")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    summary = actions.add_parser(
        "summary", help="list cases, splits, frames, EF and every problem; load each case to check it"
    )
    _add_common(summary)
    summary.add_argument("--out", type=output_path, metavar="CSV", help="write one row per checked case (case_id, patient_id, split, "
                         "n_frames, annotated_frames, ef_reference, ef_from_masks, ef_from_tracings, error)")
    summary.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    summary.add_argument("--limit", type=positive_int, metavar="N",
                         help="load and check only the first N cases (all are still listed and counted)")
    summary.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    summary.set_defaults(func=run_summary)

    preview = actions.add_parser("preview", help="write a PNG strip of one case's frames with the LV mask outlines")
    _add_common(preview)
    preview.add_argument("--case", required=True, metavar="ID",
                         help="case id (EchoNet: the file name without .avi; CAMUS: e.g. patient0001_4CH)")
    preview.add_argument("--out", type=output_path, required=True, metavar="PNG", help="image file to write (PNG)")
    preview.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    preview.add_argument("--frames", type=positive_int, default=8, metavar="N",
                         help="number of frames in the strip; ED and ES are always included (default 8)")
    preview.set_defaults(func=run_preview)


def run_summary(args: argparse.Namespace) -> int:
    from echoseg.data.check import check_dataset, write_cases_csv

    if args.out:
        output_file(args.out, [args.root], overwrite=args.overwrite, example="cases.csv")
    reader = open_dataset(args.root, args.format)
    result = check_dataset(reader, format_name=args.format, limit=args.limit, progress=not args.no_progress)
    print("\n".join(result.summary_lines()))
    if args.out:
        write_cases_csv(args.out, result.cases)
        print(f"wrote {args.out} ({len(result.cases)} cases)")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from echoseg.data.preview import write_preview

    output_file(args.out, [args.root], overwrite=args.overwrite, example=f"{args.case}.png")
    reader = open_dataset(args.root, args.format)
    sample = reader.load(args.case)
    path = write_preview(sample, args.out, n_frames=args.frames)
    print(f"wrote {path} ({sample.case_id}, ED {sample.ed}, ES {sample.es})")
    return 0
