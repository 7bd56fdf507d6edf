"""`echoseg predict`: LV masks, ED/ES per beat and EF per beat for videos, folders, DICOM, NIfTI, FileLists.

Under `torchrun --nproc_per_node N -m echoseg predict ...` each rank takes every N-th input and
rank 0 merges the summaries.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

from echoseg.io import atomic_write_text

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
    from echoseg.inference.loading import load_for_inference
    from echoseg.inference.predict import compile_model, predict_videos

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

    model, meta, input_size = load_for_inference(args.checkpoint, device)
    if args.compile:
        model = compile_model(model)
    autocast = torch.bfloat16 if args.bf16 else (torch.float16 if device.type == "cuda" and not args.no_amp else None)
    log.info("model %s %s, input %dx%d, device %s, rank %d/%d", meta["model"], meta["model_cfg"], input_size[0],
             input_size[1], device, rank, world_size)
    info = _run_info(args, meta, input_size, device, autocast, world_size)
    _check_same_run(Path(args.out) / "run.json", info, args.overwrite)
    if rank == 0:
        atomic_write_text(Path(args.out) / "run.json", json.dumps(info, indent=2) + "\n")
    try:
        report = predict_videos(
            args.inputs, model, args.out, batch_size=args.batch_size, overwrite=args.overwrite, rank=rank,
            world_size=world_size, input_size=input_size, device=device, autocast_dtype=autocast,
            channels_last=args.channels_last, threshold=args.threshold,
            spacing_mm=tuple(args.spacing) if args.spacing else None, overlay=not args.no_overlay,
            progress=not args.no_progress, barrier=barrier,
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


# Settings that change the masks: finished videos made with other values must not be resumed.
RESULT_SETTINGS = ("checkpoint_sha", "model", "model_cfg", "input_size", "threshold", "spacing_mm")


def _run_info(args, meta: dict, input_size, device, autocast, world_size: int) -> dict:
    """run.json beside the outputs: the command's resolved settings and the model that made them."""
    import hashlib

    from echoseg import __version__
    from echoseg.checkpoint import _resolve

    weights = _resolve(args.checkpoint)
    digest = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {
        "echoseg": __version__, "inputs": [str(p) for p in args.inputs], "checkpoint": str(weights),
        "checkpoint_sha": digest.hexdigest(), "model": meta["model"], "model_cfg": meta["model_cfg"],
        "checkpoint_extra": meta.get("extra", {}), "input_size": list(input_size), "device": str(device),
        "autocast": str(autocast) if autocast else None, "channels_last": args.channels_last,
        "compile": args.compile, "batch_size": args.batch_size, "threshold": args.threshold,
        "spacing_mm": args.spacing, "overlay": not args.no_overlay, "world_size": world_size,
    }


def _check_same_run(path: Path, info: dict, overwrite: bool) -> None:
    """Refuse to resume into a folder whose finished videos were made with other weights or settings."""
    from echoseg.errors import EchosegError

    if overwrite or not path.is_file():
        return
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    changed = [key for key in RESULT_SETTINGS if key in previous and previous[key] != info[key]]
    if changed:
        raise EchosegError(f"{path.parent} holds results made with different {', '.join(changed)}; "
                           "use --overwrite to redo them or choose another --out")
