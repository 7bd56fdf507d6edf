"""`echoseg predict`: LV masks, ED/ES per beat and EF per beat for videos, folders, DICOM, NIfTI, FileLists.

Under `torchrun --nproc_per_node N -m echoseg predict ...` each rank takes every N-th input and
rank 0 merges the summaries.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import timedelta

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="segment the LV in every frame of videos and report ED/ES and EF per beat",
        description="Segment the LV in every frame of each input and write, per video, masks, an overlay video, "
        "a GIF preview, per-frame areas/volumes, ED/ES per beat and EF per beat; plus summary.csv and errors.csv. "
        "Reruns skip finished videos. Use torchrun --nproc_per_node N -m echoseg predict ... to shard.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files (AVI/MP4), DICOM cine, NIfTI or MetaImage files, folders (searched "
                   "recursively) or an EchoNet FileList.csv")
    p.add_argument("--checkpoint", required=True,
                   help="echoseg weights file (model.safetensors) or a training run folder")
    p.add_argument("--out", required=True, help="output folder (one subfolder per video, summary.csv, errors.csv)")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16)")
    p.add_argument("--overwrite", action="store_true", help="redo videos that already have finished outputs")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPU or GPU)")
    p.add_argument("--no-amp", action="store_true", help="on GPU, run in float32 instead of float16 autocast")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (often faster)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster after)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--spacing", type=float, nargs=2, metavar=("DY", "DX"), default=None,
                   help="pixel spacing in mm for inputs whose files give none (areas in mm2, volumes in ml)")
    p.add_argument("--threshold", type=float, default=0.5, help="probability threshold for the mask (default 0.5)")
    p.add_argument("--no-crop", action="store_true",
                   help="do not look for the ultrasound fan: resize whole frames to the model. By default scanner "
                   "exports (a fan among text, ECG and scales) are cut to the detected fan, everything outside it "
                   "blanked, resized without stretching, and the masks mapped back to the original frame; inputs "
                   "whose fan fills the frame (EchoNet, CAMUS) are resized whole as before")
    p.add_argument("--framing", choices=("depth", "whole"), default="depth",
                   help="window cut around the fan: depth (as tall as the fan, EchoNet's framing; a wide fan's "
                   "lateral tips fall outside) or whole (the whole fan) (default: depth)")
    p.add_argument("--no-overlay", action="store_true", help="skip the overlay video and GIF preview (faster)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--rank", type=int, default=None,
                   help="this process's shard (default: $RANK from torchrun, else 0); for job arrays without torchrun, "
                   "where the last job to finish writes the merged summary")
    p.add_argument("--world-size", type=int, default=None,
                   help="number of shards (default: $WORLD_SIZE from torchrun, else 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from echoseg.errors import EchosegError
    from echoseg.geometry.masks import MaskRule
    from echoseg.inference.predict import compile_model, predict_videos, start_run
    from echoseg.inference.segmenter import load_segmenter

    rank = args.rank if args.rank is not None else int(os.environ.get("RANK", 0))
    world_size = args.world_size if args.world_size is not None else int(os.environ.get("WORLD_SIZE", 1))
    if not 0 <= rank < world_size:
        raise EchosegError(f"--rank {rank} is not in [0, {world_size})")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and "LOCAL_RANK" in os.environ and device.index is None:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))

    barrier = None
    if world_size > 1 and "MASTER_ADDR" in os.environ:
        import torch.distributed as dist

        if not dist.is_initialized():
            # gloo is enough: the ranks only meet once, at the end; a long timeout lets uneven shards finish.
            dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(hours=24))
        barrier = dist.barrier

    autocast = torch.bfloat16 if args.bf16 else (torch.float16 if device.type == "cuda" and not args.no_amp else None)
    try:
        mask_rule = MaskRule(args.threshold)
    except ValueError as exc:
        raise EchosegError(f"--threshold: {exc}") from None
    segmenter = load_segmenter(args.checkpoint, device=device, mask_rule=mask_rule,
                               batch_size=args.batch_size, autocast_dtype=autocast,
                               channels_last=args.channels_last)
    if args.compile:
        compile_model(segmenter.model)
    log.info("model %s %s, input %dx%d, device %s, rank %d/%d", segmenter.weights.model, segmenter.weights.model_cfg,
             *segmenter.input_size, device, rank, world_size)
    settings = {"inputs": [str(p) for p in args.inputs], "device": str(device),
                "autocast": str(autocast) if autocast else None, "channels_last": args.channels_last,
                "compile": args.compile, "batch_size": args.batch_size, "spacing_mm": args.spacing,
                "overlay": not args.no_overlay, "world_size": world_size, "crop": not args.no_crop,
                "framing": args.framing}
    start_run(args.out, segmenter, settings, overwrite=args.overwrite, write=rank == 0)
    try:
        report = predict_videos(
            args.inputs, segmenter, args.out, overwrite=args.overwrite, rank=rank, world_size=world_size,
            spacing_mm=tuple(args.spacing) if args.spacing else None, overlay=not args.no_overlay,
            progress=not args.no_progress, barrier=barrier, crop=not args.no_crop, framing=args.framing,
        )
    finally:
        if barrier is not None:
            import torch.distributed as dist

            dist.destroy_process_group()
    log.info("rank %d: %d done, %d skipped (already finished), %d failed; %d frames in %.1f s", rank, report.n_done,
             report.n_skipped, len(report.errors), report.frames, report.seconds["total"])
    if report.errors:
        log.error("%d input(s) failed; see %s/errors.csv", len(report.errors), args.out)
        return 1
    return 0
