"""Checked option types and output checks shared by the subcommands (not a subcommand itself).

Every numeric option is checked when it is parsed, so nonsense (`--batch-size 0`, `--threshold 2`,
`--spacing -1 0`) is refused with one line before any file is read or written.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Iterable
from pathlib import Path

from echoseg.errors import EchosegError


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _checked(kind: type, ok, expected: str, name: str):
    """An argparse type: a `kind` number for which `ok(value)` holds, else an error saying `expected`."""

    def parse(text: str):
        value = _number(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text}")
        return value

    parse.__name__ = name
    return parse


positive_int = _checked(int, lambda v: v >= 1, "a positive integer", "positive_int")
non_negative_int = _checked(int, lambda v: v >= 0, "0 or more", "non_negative_int")
positive_float = _checked(float, lambda v: v > 0, "a positive number", "positive_float")
non_negative_float = _checked(float, lambda v: v >= 0, "0 or more", "non_negative_float")
# A probability threshold: strictly between 0 and 1.
open_unit_interval = _checked(float, lambda v: 0.0 < v < 1.0, "between 0 and 1 (exclusive)", "open_unit_interval")


def device_name(text: str) -> str:
    """A torch device string (cpu, cuda, cuda:1, mps); whether it is available is checked when it is used."""
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    return text


def writable_folder(path: str | Path, option: str = "--out", *, inputs: Iterable[str | Path] = ()) -> Path:
    """Create `path` (and parents) if needed and check that a file can be written in it; else one
    EchosegError naming the folder and why (a parent that is a file, no permission, read-only disk).
    inputs: the dataset or video folders the command reads; `path` may not be one of them or lie inside
    one (`refuse_inside`). Checked before anything is created."""
    if str(path).strip() == "":
        raise EchosegError(f"{option} '': give a folder name (an empty one would mean the current folder)")
    for folder in inputs:
        refuse_inside(path, folder, option)
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise EchosegError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def refuse_inside(out: str | Path, root: str | Path, option: str = "--out") -> None:
    """A command never writes inside a folder it reads (the dataset's own files could be replaced, and a
    later run would read the outputs as inputs). Files given as inputs are not folders: no constraint."""
    root = Path(root)
    if not root.is_dir():
        return
    out, root = Path(out).resolve(), root.resolve()
    if out == root or root in out.parents:
        raise EchosegError(f"{option} {out} is inside the folder being read ({root}); write it elsewhere")


def writable_file(path: str | Path, option: str = "--out", *, overwrite: bool = False) -> Path:
    """Output file `path` may be written: not a folder (nor named like one, `dir/`), not an existing file
    unless `overwrite`, its folder exists (created if needed) and is writable; else EchosegError.
    Call it before the work, so a refusal costs nothing."""
    text = str(path)
    if text.strip() == "":
        raise EchosegError(f"{option} '': give a file name")
    path = Path(path)
    if path.is_dir() or text.endswith(("/", "\\")):
        raise EchosegError(f"{option} {text}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise EchosegError(f"{option} {path}: exists; add --overwrite to replace it")
    writable_folder(path.parent, option)
    return path


def add_engine_options(parser: argparse.ArgumentParser, default: str) -> None:
    """--engine, --int8 and --int8-calibration, shared by the commands that run a model over videos."""
    parser.add_argument("--engine", choices=("torch", "onnxruntime", "auto"), default=default,
                        help="what runs the network: torch (PyTorch eager), onnxruntime (the model exported to ONNX "
                        "once and cached beside the weights in .echoseg-onnx/, run by ONNX Runtime on the CPU; needs "
                        "the onnx extra: pip install 'echoseg[onnx]'), or auto (the faster of the two, timed on this "
                        f"machine at start with a few warm calls; PyTorch on a GPU or without onnxruntime; the choice "
                        f"and the timings go to run.json) (default: {default})")
    parser.add_argument("--int8", action="store_true",
                        help="ONNX Runtime with an int8 model (static quantization, calibrated once and cached); "
                        "refused unless its masks agree with float32 at Dice >= 0.99 on check videos; the measured "
                        "Dice goes to run.json")
    parser.add_argument("--int8-calibration", nargs="+", default=None, metavar="VIDEO",
                        help="videos or folders to calibrate and check --int8 on (at most 8 of them, spread over the "
                        "list; half calibrate, half check; at least 2) (default: predict's own inputs; for evaluate, "
                        "4 synthetic videos, whose agreement overstates real video's: 0.998 vs 0.986-0.991 measured)")


def engine_request(args: argparse.Namespace) -> dict:
    """load_segmenter's engine keywords from the options of `add_engine_options` (the calibration videos
    are read by `set_engine`, which knows the model's input size)."""
    if args.int8_calibration and not args.int8:
        raise EchosegError("--int8-calibration is for --int8; add --int8 or drop it")
    return {"engine": args.engine, "int8": args.int8, "int8_calibration": args.int8_calibration}
