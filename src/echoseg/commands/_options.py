"""Checked option types and output checks shared by the subcommands (not a subcommand itself).

Every numeric option is checked when it is parsed, so nonsense (`--batch-size 0`, `--threshold 2`,
`--spacing -1 0`) is refused with one line before any file is read or written.
"""

from __future__ import annotations

import argparse
import math
import tempfile
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


def output_path(text: str) -> str:
    """argparse type of every output option (--out, --onnx, --json...): an empty path would mean the
    current folder (the repository, or the dataset a command was started in), so it is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a file or folder name (an empty one would write into "
                                         "the current folder)")
    return text


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (what creating `path` would write into)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_writable(path: str | Path, option: str = "--out") -> Path:
    """Check that folder `path` could be created and written in, creating nothing (a command refused
    later must not leave an empty folder behind); else one EchosegError naming the folder and why."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EchosegError(f"{option} {path}: exists and is not a folder")
    base = _nearest_existing(path.absolute())
    if not base.is_dir():
        raise EchosegError(f"{option} {path}: cannot write there ({base} is a file, not a folder)")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise EchosegError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def writable_folder(path: str | Path, option: str = "--out") -> Path:
    """Create `path` (and parents) if needed and check that a file can be written in it; else one
    EchosegError naming the folder and why (a parent that is a file, no permission, read-only disk)."""
    path = check_writable(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EchosegError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def _read_root(path: Path) -> Path | None:
    """The folder an input stands for: a folder itself; an EchoNet FileList.csv's dataset folder; None
    for a single file (an output may sit beside a video it reads)."""
    if path.is_dir():
        return path
    if path.suffix.lower() == ".csv":
        return path.parent
    return None


def refuse_inside(out: str | Path, reads: list[str | Path], option: str = "--out", what: str = "dataset") -> None:
    """No command writes into a folder it reads (a dataset root, an input folder) or anywhere inside
    it: it could replace the data's own files (a run's cases.csv over a synthetic dataset's), and a
    later run would read the outputs as data (predict's overlay.mp4 as videos)."""
    target = Path(out).resolve()
    for read in reads:
        read = Path(read)
        if target == read.resolve():
            raise EchosegError(f"{option} {out} is the {what} {read}, which this command reads; write it elsewhere")
        root = _read_root(read)
        if root is not None and (target == root.resolve() or root.resolve() in target.parents):
            place = "is" if target == root.resolve() else "is inside"
            raise EchosegError(f"{option} {out} {place} the {what} {root}, which this command reads (echoseg never "
                               "writes inside what it reads); write it elsewhere")


def output_folder(out: str | Path, reads: list[str | Path] = (), option: str = "--out", *,
                  create: bool = True, what: str = "dataset") -> Path:
    """The one check of every output folder: not inside what the command reads (`reads`: dataset
    roots, input folders and files, named `what` in the message), and writable (created now unless
    `create` is False)."""
    refuse_inside(out, list(reads), option, what)
    return writable_folder(out, option) if create else check_writable(out, option)


def output_file(out: str | Path, reads: list[str | Path] = (), option: str = "--out", *, overwrite: bool = False,
                example: str = "out.csv", what: str = "dataset") -> Path:
    """The one check of every output file: a file name (not a folder), not inside what the command
    reads, not an existing file unless `overwrite`, in a folder that can be made and written (made by
    the atomic writer, so a command that fails before writing leaves no empty folder)."""
    text = str(out)
    path = Path(out)
    refuse_inside(path, list(reads), option, what)
    if text.endswith(("/", "\\")) or path.is_dir():
        raise EchosegError(f"{option} {text}: is a folder; give a file name, e.g. {path / example}")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise EchosegError(f"{option} {path}: exists; pass --overwrite to replace it, or choose another name")
    check_writable(path.parent, option)
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
