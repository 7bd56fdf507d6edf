"""Open any user input as grayscale frames: video files, DICOM cine, NIfTI, MetaImage, folders, FileLists.

Every reader returns a `VideoInput` with `frames` uint8 (T, H, W), `fps` (or None), `spacing_mm`
(dy, dx) in millimetres (or None) and the source path. Bad inputs raise `DataError` naming the
file: unreadable, truncated or empty videos, DICOM without pixel data, arrays that are not 2-D+t.

`discover_inputs` expands the command line (files, folders searched recursively, EchoNet
FileList.csv) into a sorted, de-duplicated list of `InputItem`s with unique, faithful output names
(the file name as it is, Unicode included; a short hash of the path where names would clash), so
every rank of a sharded run sees the same list in the same order.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echoseg.data import files
from echoseg.data.identity import echoseg_output
from echoseg.errors import DataError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".m4v", ".mkv", ".wmv", ".mpg", ".mpeg")
DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
METAIMAGE_SUFFIXES = (".mhd", ".mha")


@dataclass
class VideoInput:
    """One decoded input video.

    frames: uint8 (T, H, W) grayscale. fps: frames per second or None. spacing_mm: (dy, dx) or None.
    notes: things the user should know (colour converted, intensity rescaled...), kept in the summary.
    region: (x0, y0, x1, y1) the ultrasound image area the file declares (DICOM SequenceOfUltrasoundRegions), or None.
    """

    frames: np.ndarray
    fps: float | None
    spacing_mm: tuple[float, float] | None
    path: Path
    notes: list[str] = field(default_factory=list)
    region: tuple[int, int, int, int] | None = None
    affine: np.ndarray | None = None  # NIfTI: voxel-to-world 4x4 of (x, y, ...), kept so masks.nii.gz overlays it


@dataclass(frozen=True)
class InputItem:
    """A file to predict on and the unique folder name its outputs go to."""

    path: Path
    name: str
    fps_hint: float | None = None


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def has_dicom_preamble(path: Path) -> bool:
    """DICOM Part 10 files carry b"DICM" at byte 128, with or without an extension."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def is_supported(path: Path) -> bool:
    suffix = suffix_of(path)
    if suffix in VIDEO_SUFFIXES + DICOM_SUFFIXES + NIFTI_SUFFIXES + METAIMAGE_SUFFIXES:
        return True
    return suffix == "" and has_dicom_preamble(path)


# ----------------------------------------------------------------------------------------------
# Discovery


def discover_inputs(inputs: list[str | Path], exclude: list[str | Path] = (),
                    reserved: set[str] | frozenset[str] = frozenset()) -> list[InputItem]:
    """Expand files, folders (recursive) and EchoNet FileList.csv files into unique `InputItem`s.

    Files under any `exclude` folder (the output folder, when it sits inside an input folder) are
    skipped. Output names are faithful to the input (see `output_name`). Names that would be shared
    by several inputs (compared case-insensitively, as some file systems do), that are in `reserved`
    (the output folder's own files) or that are too long get a short hash of their input's path
    instead (`hashed_name`), all of them, so no input's name depends on which other was listed first.
    Missing paths raise DataError.
    """
    excluded = [Path(p).resolve() for p in exclude]
    found: list[tuple[Path, str, float | None]] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise DataError(path, "input not found")
        if path.is_dir():
            found.extend((file, output_name(rel), None) for file, rel in sorted(_files_in(path, excluded))
                         if is_supported(file))
        elif path.suffix.lower() == ".csv":
            found.extend((file, output_name(Path(file.name)), fps) for file, fps in read_filelist(path))
        else:
            found.append((path, output_name(Path(path.name)), None))
    unique = _once_each(found)
    counts = Counter(name.casefold() for _, name, _ in unique)
    blocked = {name.casefold() for name in reserved}
    items, used = [], set()
    for path, name, fps in unique:
        if counts[name.casefold()] > 1 or name.casefold() in blocked or len(name.encode()) > MAX_NAME_BYTES:
            name = hashed_name(name, path)
        n = 1
        base = name
        while name.casefold() in used:  # only if a file is literally called like another's hashed name
            n += 1
            name = f"{base}-{n}"
        used.add(name.casefold())
        items.append(InputItem(path=path, name=name, fps_hint=fps))
    return items


# Characters that no common file system takes in a name (Windows' reserved ones included, so output
# folders copy anywhere) and control characters; everything else, Unicode included, is kept.
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME_BYTES = 200  # file systems allow 255 bytes; room for the hash and temp-file prefixes


def output_name(rel: Path) -> str:
    """The output folder name of an input at `rel` (relative to the folder given, or its file name):
    path parts joined by "__", the suffix dropped, characters no file system takes replaced by "_",
    and a leading "." replaced (it would hide the folder). `心脏.avi` -> `心脏`, `a b.avi` -> `a b`."""
    parts = list(rel.parts)
    last = parts[-1]
    suffix = suffix_of(Path(last))
    parts[-1] = last[: len(last) - len(suffix)] if suffix and len(last) > len(suffix) else last
    name = _UNSAFE_IN_NAMES.sub("_", "__".join(parts))
    return "_" + name[1:] if name.startswith(".") else (name or "_")


def input_hash(path: Path) -> str:
    """8 hex digits of the SHA-1 of the input's absolute path: tells inputs of the same name apart."""
    return hashlib.sha1(str(Path(path).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:8]


def hashed_name(name: str, path: Path) -> str:
    """`name-<input_hash>`, the name shortened (whole characters) to fit MAX_NAME_BYTES."""
    room = MAX_NAME_BYTES - 9
    while len(name.encode()) > room:
        name = name[:-1]
    return f"{name}-{input_hash(path)}"


def read_filelist(path: Path) -> list[tuple[Path, float | None]]:
    """Videos listed in an EchoNet FileList.csv: `Videos/<FileName>[.avi]` beside the CSV, with FPS."""
    videos_dir = path.parent / "Videos"
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"cannot read FileList: {exc}") from None
    if not rows or "FileName" not in rows[0]:
        raise DataError(path, "not an EchoNet FileList (no FileName column)")
    out = []
    for row in rows:
        name = row["FileName"].strip()
        file = videos_dir / (name if name.lower().endswith(".avi") else f"{name}.avi")
        try:
            fps = float(row.get("FPS") or "nan")
        except ValueError:
            fps = float("nan")
        out.append((file, fps if np.isfinite(fps) and fps > 0 else None))
    return out


def _files_in(folder: Path, excluded: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to `folder`) of every file under `folder`, following links to
    folders. Hidden entries, `excluded` folders and folders of echoseg's own outputs (a predict run,
    a predicted video's overlay.mp4: never new videos) are skipped; so are broken links and link
    loops, each with one line saying so."""
    visited = {folder.resolve()}
    for here, subfolders, names in os.walk(folder, followlinks=True):
        here = Path(here)
        kept = []
        for name in sorted(subfolders):
            sub = here / name
            real = sub.resolve()
            if name.startswith(".") or any(_is_under(real, ex) for ex in excluded):
                continue
            if real in visited:  # a link loop, or a second way to a folder: searched once
                log.warning("%s: skipped: %s is searched already (a link loop or a second link to it)", sub, real)
                continue
            kind = echoseg_output(sub)
            if kind is not None:
                log.info("%s: skipped: holds %s of echoseg's, not input videos", sub, kind)
                continue
            visited.add(real)
            kept.append(name)
        subfolders[:] = kept
        for name in sorted(names):
            file = here / name
            if name.startswith("."):
                continue
            if not file.exists():
                log.warning("%s: skipped: a broken link (to %s)", file, os.readlink(file) if file.is_symlink() else "?")
                continue
            if file.is_file() and not any(_is_under(file.resolve(), ex) for ex in excluded):
                yield file, file.relative_to(folder)


def _once_each(found: list[tuple[Path, str, float | None]]) -> list[tuple[Path, str, float | None]]:
    """`found` with each file once, in its order: a video reached by its own path and by a link keeps
    its real name (the link is dropped with a line saying so), whichever of the two comes first."""
    chosen: dict[Path, int] = {}
    for i, (path, _, _) in enumerate(found):
        key = path.resolve()
        if key not in chosen:
            chosen[key] = i
            continue
        kept = found[chosen[key]][0]
        if kept.is_symlink() and not path.is_symlink():
            chosen[key], path, kept = i, kept, path
        log.info("%s: the same file as %s, predicted once", path, kept)
    return [found[i] for i in sorted(chosen.values())]


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------
# Reading


def read_video(path: str | Path, fps_hint: float | None = None) -> VideoInput:
    """Decode one input file to grayscale uint8 (T, H, W) with its fps and spacing (see module doc)."""
    path = Path(path)
    files.require_regular_file(path)
    suffix = suffix_of(path)
    if suffix in DICOM_SUFFIXES or (suffix == "" and has_dicom_preamble(path)):
        video = read_dicom(path)
    elif suffix in NIFTI_SUFFIXES:
        video = read_nifti(path)
    elif suffix in METAIMAGE_SUFFIXES:
        video = read_metaimage(path)
    elif suffix in VIDEO_SUFFIXES:
        video = read_video_file(path)
    else:
        raise DataError(path, f"unsupported input type {suffix or '(no extension)'}; expected a video "
                        f"({', '.join(VIDEO_SUFFIXES)}), DICOM, NIfTI or MetaImage file")
    if video.fps is None and fps_hint:
        video.fps = fps_hint
    if video.frames.shape[0] == 0:
        raise DataError(path, "no frames")
    return video


def read_video_file(path: Path) -> VideoInput:
    """AVI/MP4/... through the shared OpenCV decoder; real colour is kept as a note for the summary."""
    decoded = files.read_video_frames(path)
    notes = ["colour frames converted to grayscale"] if decoded.colour else []
    return VideoInput(decoded.frames, decoded.fps, None, path, notes)


def read_dicom(path: Path) -> VideoInput:
    """Multi-frame (cine) or single-frame DICOM through the shared decoder (compressed syntaxes, YBR
    colour, ultrasound-region spacing before PixelSpacing); the 2-D ultrasound region is kept for the
    sector detection."""
    decoded = files.read_dicom(path)
    region = decoded.image_region
    return VideoInput(decoded.frames, decoded.fps, decoded.spacing_mm, path, decoded.notes,
                      region=region.box if region is not None else None)


def read_nifti(path: Path) -> VideoInput:
    """NIfTI 2-D+t (shared reader: (t, y, x), spacing (dy, dx), fps from pixdim); one 2-D image is one frame."""
    return _image_input(files.read_nifti(path), path, "NIfTI")


def read_metaimage(path: Path) -> VideoInput:
    """MetaImage (.mhd/.mha) 2-D+t through the shared SimpleITK reader; one 2-D image is one frame."""
    return _image_input(files.read_metaimage(path), path, "MetaImage")


def _image_input(image: files.Image, path: Path, kind: str) -> VideoInput:
    arr = image.array[None] if image.array.ndim == 2 else image.array
    if arr.ndim != 3:
        raise DataError(path, f"expected a 2-D+time {kind} image, got array shape {arr.shape} (t, y, x)")
    notes: list[str] = []
    frames = files.to_uint8(arr, path, notes)
    if image.spacing_mm is None:
        notes.append(f"the {kind} file gives no pixel size: areas and volumes in pixels")
    return VideoInput(np.ascontiguousarray(frames), image.fps, image.spacing_mm, path, notes, affine=image.affine)
