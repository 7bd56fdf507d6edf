"""`echoseg predict`: LV masks, ED/ES per beat and EF per beat for videos, folders, DICOM, NIfTI, FileLists.

Under `torchrun --nproc_per_node N -m echoseg predict ...` each rank takes every N-th input and
rank 0 merges the summaries.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
from datetime import timedelta

from echoseg.commands._options import (
    add_engine_options,
    device_name,
    engine_request,
    non_negative_int,
    open_unit_interval,
    output_folder,
    output_path,
    positive_float,
    positive_int,
)

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
    p.add_argument("--checkpoint", default=None,
                   help="echoseg weights file (model.safetensors) or a training run folder (default: the built-in "
                   "SSCF, CPU preset, 64x64 input, trained on synthetic data only; for research: it has never seen a "
                   "real echo, so check its masks, or fine-tune it with `echoseg train --init`)")
    p.add_argument("--out", type=output_path, required=True,
                   help="output folder (one subfolder per video, summary.csv, errors.csv); never inside an input folder")
    # 64: on the 2-core test machine 16 -> 64 windows gave PyTorch channels_last 1.7x and ONNX Runtime 1.1x
    # model frames/s (benchmarks/RESULTS.md, "Inference engines"); 64 windows at 256x256 stay near 2 GB.
    p.add_argument("--batch-size", type=positive_int, default=64, help="windows per forward pass (default 64)")
    p.add_argument("--overwrite", action="store_true", help="redo videos that already have finished outputs")
    p.add_argument("--device", type=device_name, default=None,
                   help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPU or GPU)")
    p.add_argument("--no-amp", action="store_true", help="on GPU, run in float32 instead of float16 autocast")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="PyTorch engine: channels_last memory format (default: on for the CPU, off for GPUs; "
                   "`echoseg bench predict` measures both)")
    add_engine_options(p, default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster after)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for torch (default: every core this process may use; idle threads sleep, so "
                   "this is also the fastest setting on a busy machine)")
    p.add_argument("--spacing", type=positive_float, nargs=2, metavar=("DY", "DX"), default=None,
                   help="pixel spacing in mm for inputs whose files give none (areas in mm2, volumes in ml)")
    p.add_argument("--threshold", type=open_unit_interval, default=None,
                   help="probability threshold for the mask (default: the one the weights record, else 0.5)")
    p.add_argument("--postprocess", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the largest connected component of each mask and fill its holes, or not "
                   "(--no-postprocess) (default: the rule the weights record, else the raw threshold mask; "
                   "volumes and EF always use the cleaned mask)")
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
    p.add_argument("--rank", type=non_negative_int, default=None,
                   help="this process's shard (default: $RANK from torchrun, else 0); for job arrays without torchrun, "
                   "where the last job to finish writes the merged summary")
    p.add_argument("--world-size", type=positive_int, default=None,
                   help="number of shards (default: $WORLD_SIZE from torchrun, else 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from echoseg.errors import EchosegError, Interrupted
    from echoseg.inference.predict import PredictSettings, compile_model, predict_videos, start_run
    from echoseg.inference.segmenter import PRETRAINED_NOTE, load_segmenter, pretrained_path
    from echoseg.threads import usable_threads
    from echoseg.training.distributed import env_int, resolve_device

    # Before anything else: `predict DIR --out DIR` must not leave a run.json in the input folder.
    output_folder(args.out, args.inputs, what="input", create=False)  # made when the first file is written
    rank = args.rank if args.rank is not None else env_int("RANK", 0)
    world_size = args.world_size if args.world_size is not None else env_int("WORLD_SIZE", 1, minimum=1)
    if not 0 <= rank < world_size:
        raise EchosegError(f"--rank {rank} is not in [0, {world_size})")
    device = resolve_device(args.device or "auto", env_int("LOCAL_RANK", 0))
    if device.type == "cpu" or args.threads:
        torch.set_num_threads(usable_threads(args.threads))

    barrier = None
    if world_size > 1 and "MASTER_ADDR" in os.environ:
        import torch.distributed as dist

        if not dist.is_initialized():
            # gloo is enough: the ranks only meet once, at the end; a long timeout lets uneven shards finish.
            dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(hours=24))
        barrier = dist.barrier

    autocast = torch.bfloat16 if args.bf16 else (torch.float16 if device.type == "cuda" and not args.no_amp else None)
    channels_last = args.channels_last if args.channels_last is not None else device.type == "cpu"
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = pretrained_path()
        log.warning("no --checkpoint: using the built-in model %s (%s)", checkpoint.name, PRETRAINED_NOTE)
    segmenter = load_segmenter(checkpoint, device=device, threshold=args.threshold, clean=args.postprocess,
                               batch_size=args.batch_size, autocast_dtype=autocast,
                               channels_last=channels_last, **_engine_keywords(args))
    if args.compile:
        compile_model(segmenter.model)
    log.info("model %s %s, input %dx%d, engine %s %s, device %s%s, rank %d/%d", segmenter.weights.model,
             segmenter.weights.model_cfg, *segmenter.input_size, segmenter.engine.name, segmenter.engine.precision,
             device,
             f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else "", rank, world_size)
    settings = {"inputs": [str(p) for p in args.inputs], "device": str(device),
                "autocast": str(autocast) if autocast else None, "channels_last": channels_last,
                "compile": args.compile, "batch_size": args.batch_size, "spacing_mm": args.spacing,
                "overlay": not args.no_overlay, "world_size": world_size, "crop": not args.no_crop,
                "framing": args.framing, "threads": torch.get_num_threads()}
    start_run(args.out, segmenter, settings, overwrite=args.overwrite, write=rank == 0)
    try:
        report = predict_videos(args.inputs, segmenter, args.out, PredictSettings(
            overwrite=args.overwrite, rank=rank, world_size=world_size,
            spacing_mm=tuple(args.spacing) if args.spacing else None, overlay=not args.no_overlay,
            progress=not args.no_progress, barrier=barrier, crop=not args.no_crop, framing=args.framing))
    except Interrupted as exc:
        command = shlex.join(["echoseg", *[a for a in args.argv if a != "--overwrite"]])
        raise Interrupted(f"{exc}; rerun to resume (finished videos are skipped): {command}") from None
    finally:
        if barrier is not None:
            import torch.distributed as dist

            dist.destroy_process_group()
    log.info("rank %d: %d done, %d skipped (already finished), %d failed; %d frames in %.1f s", rank, report.n_done,
             report.n_skipped, len(report.errors), report.frames, report.seconds["total"])
    log.info("rank %d: %s", rank, report.stage_text())
    if rank == 0:
        print(f"wrote {args.out}: one folder per video (masks, frames.csv, beats.csv"
              f"{', overlay' if not args.no_overlay else ''}), summary.csv, errors.csv, run.json")
    if report.errors:
        log.error("%d input(s) failed; see %s", len(report.errors), os.path.join(args.out, "errors.csv"))
        return 1
    return 0


def _engine_keywords(args: argparse.Namespace) -> dict:
    """--engine/--int8 as load_segmenter keywords; --compile is a PyTorch feature, so auto means torch then."""
    request = engine_request(args)
    if args.compile:
        if request["engine"] == "onnxruntime" or request["int8"]:
            from echoseg.errors import EchosegError

            raise EchosegError("--compile is torch.compile: use it with --engine torch")
        request["engine"] = "torch"
    if request["int8"] and not request["int8_calibration"]:
        # int8's check must see the videos it will segment: on synthetic video the built-in model's int8
        # masks matched float32 at Dice 0.998, on real EchoNet video at 0.986-0.991 (benchmarks/RESULTS.md).
        request["int8_calibration"] = [str(p) for p in args.inputs]
    return request
