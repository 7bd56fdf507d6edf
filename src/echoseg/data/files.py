"""Decoding of the file formats users bring: videos through OpenCV, NIfTI through nibabel, MetaImage
through SimpleITK.

The dataset readers (EchoNet-Dynamic, CAMUS) and the inference input readers both decode files
here, so a file reads the same way whether it is training data or a video to predict on.

Axis conventions: nibabel arrays are (x, y[, t]) with pixdim (dx, dy[, dt]); SimpleITK arrays are
(t, y, x) with GetSpacing() (dx, dy[, dt]). Both come back as (t, y, x) arrays ((y, x) for a single
2-D image) and a spacing of (dy, dx) mm. Every problem raises `DataError` naming the file.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from echoseg.errors import DataError

log = logging.getLogger(__name__)

# Channel differences below this (mean absolute, grey levels) are compression noise, not colour:
# EchoNet's MJPG frames have three slightly different channels of the same grey image.
COLOUR_THRESHOLD = 4.0


@dataclass
class DecodedVideo:
    """A video file decoded to grayscale.

    frames: uint8 (T, H, W). fps: the container's frame rate, or None when it reports none.
    colour: the frames carried real colour (channels differing by more than compression noise)
            and were converted to gray.
    """

    frames: np.ndarray
    fps: float | None
    colour: bool


@dataclass
class Image:
    """A NIfTI or MetaImage file: array (T, H, W) or (H, W) in its stored dtype, spacing (dy, dx) mm
    (None when the file has no positive pixel size), fps (None when the file gives no time step)."""

    array: np.ndarray
    spacing_mm: tuple[float, float] | None
    fps: float | None = None


# --- videos -----------------------------------------------------------------------------------


# Keep FFmpeg's own messages ("moov atom not found") off the terminal: every failure it would print we
# report as a DataError naming the file, and its lines would break the progress bar. FFmpeg reads this
# once, when OpenCV first opens a video, hence here and not in a function; a user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@functools.cache
def quiet_opencv() -> None:
    """OpenCV's own log lines ("[ WARN:0] ... can't open"), for the same reason; once, before the first video."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


# FFmpeg reads every format we take (and is what OpenCV picks first anyway); naming it avoids the
# fallback readers, which print to stderr on files FFmpeg refused. Builds without it use the default.
_READ_BACKEND = (cv2.CAP_FFMPEG,) if cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG) else ()


def read_video_frames(path: str | Path) -> DecodedVideo:
    """Decode a video file (AVI, MP4, ...) with OpenCV into grayscale uint8 (T, H, W).

    Colour frames are converted with `cv2.cvtColor(BGR2GRAY)` (EchoNet's three channels differ
    slightly, so taking one channel would be wrong). A file that is missing, cannot be opened,
    yields no frame, or yields fewer frames than its header declares (truncated) raises DataError.
    AVI headers count frames exactly, so any shortfall there is lost data; other containers' counts
    may be estimated from duration x fps, so one frame short is accepted for them.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    quiet_opencv()
    capture = cv2.VideoCapture(str(path), *_READ_BACKEND)
    try:
        if not capture.isOpened():
            raise DataError(path, "cannot open the video (unreadable by OpenCV: empty, damaged or not a video file)")
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames, colour = [], False
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if frame.ndim == 3:
                if not frames:
                    colour = channel_difference(frame) > COLOUR_THRESHOLD
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            frames.append(frame)
    finally:
        capture.release()
    if not frames:
        raise DataError(path, "unreadable video: no decodable frames (zero-frame, empty or damaged file)")
    slack = 0 if path.suffix.lower() == ".avi" else 1
    if declared - slack > len(frames):
        raise DataError(path, f"truncated video: header says {declared} frames, only {len(frames)} decoded")
    video = np.stack(frames)
    if video.dtype != np.uint8:
        raise DataError(path, f"expected 8-bit frames, got {video.dtype}")
    if colour:
        log.info("%s: colour frames converted to grayscale", path)
    return DecodedVideo(frames=video, fps=fps if fps > 0 else None, colour=colour)


def channel_difference(frame: np.ndarray) -> float:
    """Largest mean absolute difference between neighbouring channels of one (H, W, 3) frame."""
    f = frame.astype(np.int16)
    return float(max(np.abs(f[..., 0] - f[..., 1]).mean(), np.abs(f[..., 1] - f[..., 2]).mean()))


# --- NIfTI and MetaImage ----------------------------------------------------------------------


def read_nifti(path: str | Path) -> Image:
    """NIfTI through nibabel: array (x, y[, t]) or (x, y, 1, t) -> (t, y, x) / (y, x);
    pixdim (dx, dy) -> spacing (dy, dx); fps from the time step when its unit is sec or msec."""
    import nibabel

    path = Path(path)
    try:
        image = nibabel.load(str(path))
        data = np.asanyarray(image.dataobj)
        zooms = tuple(float(z) for z in image.header.get_zooms())
        time_unit = image.header.get_xyzt_units()[1]
    except Exception as exc:  # nibabel raises many types for damaged files
        raise DataError(path, f"unreadable NIfTI image ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[2] == 1:  # 2-D+t stored with a singleton z axis
        data = data[:, :, 0, :]
        zooms = (zooms[0], zooms[1], zooms[3])
    if data.ndim < 2 or len(zooms) < 2:
        raise DataError(path, f"expected a 2-D image or a 2-D+t sequence, got shape {data.shape}")
    spacing = (zooms[1], zooms[0]) if zooms[0] > 0 and zooms[1] > 0 else None
    fps = None
    if data.ndim == 3 and len(zooms) > 2 and zooms[2] > 0 and time_unit in ("sec", "msec"):
        fps = 1.0 / (zooms[2] / (1000.0 if time_unit == "msec" else 1.0))
    return Image(array=data.transpose(tuple(reversed(range(data.ndim)))), spacing_mm=spacing, fps=fps)


def read_metaimage(path: str | Path) -> Image:
    """MetaImage (.mhd/.mha) through SimpleITK: array already (t, y, x) / (y, x); GetSpacing()
    (dx, dy) -> spacing (dy, dx). SimpleITK is the optional extra echoseg[mhd], imported here only."""
    path = Path(path)
    try:
        import SimpleITK as sitk
    except ImportError:
        raise DataError(path, "reading MetaImage (.mhd/.mha) files needs SimpleITK: install echoseg[mhd] "
                        "(pip install 'echoseg[mhd]')") from None
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DataError(path, f"unreadable MetaImage ({str(exc).strip().splitlines()[-1]})") from None
    spacing = image.GetSpacing()
    return Image(array=sitk.GetArrayFromImage(image), spacing_mm=(float(spacing[1]), float(spacing[0])))


# --- intensities ------------------------------------------------------------------------------


def to_uint8(array: np.ndarray, path: str | Path, notes: list[str] | None = None) -> np.ndarray:
    """Intensities as uint8: cast (rounded) when already within 0..255, else rescaled min-max to 0..255.

    A rescale is described in `notes` when given (the user should know intensities changed).
    NaN or infinite values raise DataError naming `path`: there is no honest grey level for them.
    """
    if array.dtype == np.uint8:
        return array
    values = np.asarray(array, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(Path(path), "image has NaN or infinite values")
    if values.size == 0:
        return values.astype(np.uint8)
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 255:
        values = (values - lo) * (255.0 / (hi - lo))  # hi > lo: the range exceeds 0..255
        if notes is not None:
            notes.append(f"intensities {lo:g}..{hi:g} rescaled to 0..255")
    return np.rint(values).astype(np.uint8)
