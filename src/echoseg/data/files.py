"""Decoding of the file formats users bring: videos through OpenCV, DICOM through pydicom, NIfTI
through nibabel, MetaImage through SimpleITK.

The dataset readers (EchoNet-Dynamic, CAMUS) and the inference input readers both decode files
here, so a file reads the same way whether it is training data or a video to predict on.

Axis conventions: nibabel arrays are (x, y[, t]) with pixdim (dx, dy[, dt]); SimpleITK arrays are
(t, y, x) with GetSpacing() (dx, dy[, dt]). Both come back as (t, y, x) arrays ((y, x) for a single
2-D image) and a spacing of (dy, dx) mm. Every problem raises `DataError` naming the file.
"""

from __future__ import annotations

import functools
import logging
import math
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
    affine: np.ndarray | None = None  # NIfTI: the file's voxel-to-world 4x4 (its orientation), for masks written back


def require_regular_file(path: Path, what: str = "file") -> None:
    """Raise DataError with the right reason when `path` is not a regular file: missing, a folder, or a
    device, pipe or socket (/dev/null exists: "not found" would be wrong)."""
    if path.is_file():
        return
    if not path.exists():
        raise DataError(path, f"{what} not found")
    if path.is_dir():
        raise DataError(path, f"is a folder, not a {what}")
    raise DataError(path, f"not a regular {what} (a device, pipe or socket)")


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
    require_regular_file(path, "video file")
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


# --- DICOM -----------------------------------------------------------------------------------

# Decoders pydicom can use for compressed pixel data; the `dicom` extra installs python-gdcm (see
# docs/predict.md: permissive licence, one package for every JPEG flavour, JPEG-LS, JPEG 2000 and RLE).
DICOM_DECODERS_HINT = "install echoseg[dicom] (pydicom and python-gdcm): pip install 'echoseg[dicom]'"


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of a DICOM SequenceOfUltrasoundRegions.

    box: (x0, y0, x1, y1) pixels, x1/y1 exclusive (the file's RegionLocationMaxX1/Y1 + 1).
    spacing_mm: (dy, dx) from PhysicalDeltaY/X when both are in cm (units code 3), else None.
    spatial_format: 1 = 2-D tissue or flow image, 2 = M-mode, 3 = spectral, 4 = waveform (ECG ...).
    data_type: 1 = tissue, 2 = colour flow, ... (DICOM PS3.3 C.8.5.5.1.2).
    """

    box: tuple[int, int, int, int]
    spacing_mm: tuple[float, float] | None
    spatial_format: int
    data_type: int

    @property
    def is_image(self) -> bool:
        """A 2-D image region (B-mode tissue or colour flow over it)."""
        return self.spatial_format == 1


@dataclass
class DicomVideo:
    """A DICOM file decoded to grayscale.

    frames: uint8 (T, H, W). fps: from FrameTime, FrameTimeVector, CineRate or RecommendedDisplayFrameRate.
    spacing_mm: (dy, dx) from the first 2-D ultrasound region, else PixelSpacing, else None.
    regions: the SequenceOfUltrasoundRegions items. transfer_syntax: its name (e.g. "JPEG Baseline (Process 1)").
    notes: what the user should know (colour converted, intensities rescaled).
    """

    frames: np.ndarray
    fps: float | None
    spacing_mm: tuple[float, float] | None
    regions: list[UltrasoundRegion]
    transfer_syntax: str
    notes: list[str]

    @property
    def image_region(self) -> UltrasoundRegion | None:
        """The largest 2-D image region (where the sector is), or None."""
        images = [r for r in self.regions if r.is_image]
        return max(images, key=lambda r: (r.box[2] - r.box[0]) * (r.box[3] - r.box[1])) if images else None


def read_dicom(path: str | Path) -> DicomVideo:
    """Multi-frame (cine) or single-frame DICOM -> grayscale uint8 (T, H, W), fps, spacing, regions.

    Compressed transfer syntaxes (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE) decode through
    whichever pydicom plugin is installed (python-gdcm with the `dicom` extra; Pillow covers JPEG baseline
    and JPEG 2000). Colour frames (RGB, and YBR_FULL / YBR_FULL_422 / YBR_ICT / YBR_RCT, which pydicom
    converts to RGB whichever decoder ran, chroma subsampling included) become gray with the BT.601 luma
    weights, so a gray image stored as YBR gives back its Y values. MONOCHROME1 is inverted; more than
    8 bits are rescaled to 0..255 over the whole video (with a note).
    """
    path = Path(path)
    try:
        import pydicom
        from pydicom.pixels import iter_pixels, pixel_array
    except ImportError:
        raise DataError(path, f"reading DICOM needs pydicom 3: {DICOM_DECODERS_HINT}") from None
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # pydicom raises many types for damaged files
        raise DataError(path, f"unreadable DICOM: {exc}") from None
    if "PixelData" not in ds:
        raise DataError(path, "DICOM without pixel data")
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    syntax_name = getattr(syntax, "name", str(syntax or "unknown"))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    colour = int(ds.get("SamplesPerPixel", 1)) > 1
    notes: list[str] = []
    frames = []
    try:
        if _native_ybr422_8bit(ds, syntax):
            frames = list(_ybr422_luma(ds))
            colour = True
        else:
            for frame in _dicom_frames(ds, syntax, iter_pixels, pixel_array):
                if colour:
                    frame = cv2.cvtColor(np.ascontiguousarray(frame if frame.dtype == np.uint8 else
                                                              to_uint8(frame, path)), cv2.COLOR_RGB2GRAY)
                frames.append(frame)
    except Exception as exc:  # missing decoder plugin, damaged fragments, bad header values
        if getattr(syntax, "is_compressed", True):
            raise DataError(path, f"cannot decode DICOM pixel data ({syntax_name}): {exc}; compressed files need a "
                            f"decoder: {DICOM_DECODERS_HINT}") from None
        # Uncompressed pixel data needs no decoder: what is wrong is the header or the file's length.
        raise DataError(path, f"cannot read DICOM pixel data ({syntax_name}): "
                        f"{_native_size_problem(ds) or exc}") from None
    if not frames:
        raise DataError(path, "DICOM pixel data holds no frame")
    pixels = np.stack(frames)
    if pixels.ndim != 3:
        raise DataError(path, f"unexpected DICOM pixel array shape {pixels.shape}")
    pixels = to_uint8(pixels, path, notes)
    if colour:
        notes.append(f"colour ({photometric}) frames converted to grayscale")
        log.info("%s: colour (%s) frames converted to grayscale", path, photometric)
    elif photometric == "MONOCHROME1":
        pixels = 255 - pixels
    regions = _ultrasound_regions(ds)
    return DicomVideo(frames=np.ascontiguousarray(pixels), fps=_dicom_fps(ds), spacing_mm=_dicom_spacing(ds, regions, notes),
                      regions=regions, transfer_syntax=syntax_name, notes=notes)


def _dicom_frames(ds, syntax, iter_pixels, pixel_array):
    """Decoded frames one by one (compressed data) or all at once (native data: already in memory)."""
    if syntax is not None and syntax.is_compressed:
        yield from iter_pixels(ds, decoding_plugin=_fastest_decoder(syntax))
        return
    pixels = pixel_array(ds)
    yield from (pixels[None] if int(ds.get("NumberOfFrames", 1) or 1) == 1 else pixels)


def _native_ybr422_8bit(ds, syntax) -> bool:
    return (syntax is not None and not syntax.is_compressed and int(ds.get("BitsAllocated", 8)) == 8
            and str(ds.get("PhotometricInterpretation", "")).upper() == "YBR_FULL_422")


def _ybr422_luma(ds):
    """Native YBR_FULL_422 (each pair of pixels stored Y1 Y2 Cb Cr): the Y bytes are the grey (luma) image.
    Read directly: exact, and about 40 times faster than pydicom's upsampling and colour conversion (whose
    3.0 frame iterator also misreads this layout)."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    data = np.frombuffer(ds.PixelData, np.uint8)
    if cols % 2 or data.size < n * rows * cols * 2:
        raise ValueError(f"YBR_FULL_422 pixel data of {data.size} bytes does not hold {n} frames of {cols}x{rows}")
    packed = data[: n * rows * cols * 2].reshape(n, rows, cols // 2, 4)
    yield from packed[..., :2].reshape(n, rows, cols)


# Fastest installed plugin per compressed syntax, measured on ultrasound cines (benchmarks/RESULTS.md):
# Pillow's libjpeg-turbo for JPEG baseline, GDCM for JPEG 2000; pydicom's own choice otherwise.
PREFERRED_DECODERS = {"1.2.840.10008.1.2.4.50": "pillow", "1.2.840.10008.1.2.4.90": "gdcm",
                      "1.2.840.10008.1.2.4.91": "gdcm"}


def _fastest_decoder(syntax) -> str:
    """pydicom's decoding plugin to use for `syntax` ("" = pydicom's own choice)."""
    from pydicom.pixels.decoders.base import get_decoder

    preferred = PREFERRED_DECODERS.get(str(syntax))
    if not preferred:
        return ""
    try:
        available = get_decoder(syntax).available_plugins
    except (NotImplementedError, ValueError, KeyError):  # a syntax pydicom has no decoder for: it says so itself
        return ""
    return preferred if preferred in available else ""


def _ultrasound_regions(ds) -> list[UltrasoundRegion]:
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions", None) or []:
        try:
            box = (int(item.RegionLocationMinX0), int(item.RegionLocationMinY0),
                   int(item.RegionLocationMaxX1) + 1, int(item.RegionLocationMaxY1) + 1)
        except (AttributeError, TypeError, ValueError):
            box = (0, 0, int(ds.Columns), int(ds.Rows))
        dx, dy = item.get("PhysicalDeltaX"), item.get("PhysicalDeltaY")
        units = int(item.get("PhysicalUnitsXDirection", 3) or 0), int(item.get("PhysicalUnitsYDirection", 3) or 0)
        spacing = None
        if dx and dy and units == (3, 3):  # 3 = cm
            spacing = (abs(float(dy)) * 10.0, abs(float(dx)) * 10.0)
        regions.append(UltrasoundRegion(box=box, spacing_mm=spacing, spatial_format=int(item.get("RegionSpatialFormat", 1) or 0),
                                        data_type=int(item.get("RegionDataType", 1) or 0)))
    return regions


def _native_size_problem(ds) -> str | None:
    """Why uncompressed pixel data does not fit its header (frames it holds vs NumberOfFrames), or None."""
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        per_frame = rows * columns * int(ds.get("SamplesPerPixel", 1)) * ((int(ds.BitsAllocated) + 7) // 8)
        declared = int(ds.get("NumberOfFrames", 1) or 1)
        held = len(ds.PixelData) // per_frame if per_frame else 0
    except (AttributeError, TypeError, ValueError):
        return None
    if held == declared:
        return None
    return (f"NumberOfFrames says {declared} but the pixel data holds {held} frame(s) of {columns}x{rows} "
            f"({len(ds.PixelData)} bytes): the header is wrong or the file is truncated")


def _dicom_spacing(ds, regions: list[UltrasoundRegion], notes: list[str]) -> tuple[float, float] | None:
    """(dy, dx) mm: the first 2-D ultrasound region with cm units, else PixelSpacing (row, column), else None.
    A spacing the file gives that is zero or negative is not one: left out with a note in `notes` (so a
    user sees why areas come out in pixels), unless a usable one is found."""
    for region in regions:
        if region.spacing_mm is not None and region.spatial_format in (0, 1):
            return region.spacing_mm
    spacing = ds.get("PixelSpacing", None)
    if spacing is not None and len(spacing) == 2 and float(spacing[0]) > 0 and float(spacing[1]) > 0:
        return float(spacing[0]), float(spacing[1])
    unusable = [f"ultrasound region PhysicalDelta {float(dy):g} x {float(dx):g} cm"
                for item in ds.get("SequenceOfUltrasoundRegions", None) or []
                for dy, dx in [(item.get("PhysicalDeltaY"), item.get("PhysicalDeltaX"))]
                if dy is not None and dx is not None and (float(dy) == 0 or float(dx) == 0)]
    if spacing is not None and len(spacing) == 2:
        unusable.append(f"PixelSpacing {float(spacing[0]):g} x {float(spacing[1]):g} mm")
    for what in unusable:
        notes.append(f"{what} is not a pixel spacing: ignored (areas in pixels; --spacing DY DX gives one)")
        log.info("%s: %s", ds.filename if hasattr(ds, "filename") else "DICOM", notes[-1])
    return None


def _dicom_fps(ds) -> float | None:
    """Frames per second: FrameTime (ms), else the mean of FrameTimeVector (its first entry is 0), else
    CineRate, else RecommendedDisplayFrameRate; None when none is positive."""
    frame_time = _positive_float(ds.get("FrameTime", None))
    if frame_time:
        return 1000.0 / frame_time
    vector = ds.get("FrameTimeVector", None)
    if vector is not None:
        steps = [_positive_float(v) for v in list(vector)[1:]]
        steps = [v for v in steps if v]
        if steps:
            return 1000.0 / float(np.mean(steps))
    for key in ("CineRate", "RecommendedDisplayFrameRate"):
        value = _positive_float(ds.get(key, None))
        if value:
            return value
    return None


def _positive_float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


# --- NIfTI and MetaImage ----------------------------------------------------------------------


def read_nifti(path: str | Path) -> Image:
    """NIfTI through nibabel: array (x, y[, t]) or (x, y, 1, t) -> (t, y, x) / (y, x);
    pixdim (dx, dy) -> spacing (dy, dx); fps from the time step when its unit is sec or msec."""
    import nibabel
    from nibabel.openers import ImageOpener

    path = Path(path)
    try:
        # nibabel replaces a pixdim of 0 by 1.0 on load (and says so on stderr): the raw header tells the
        # truth, and a pixel size of 0 means an unknown one, not 1 mm.
        nibabel_log = logging.getLogger("nibabel.global")
        level, nibabel_log.level = nibabel_log.level, logging.ERROR
        try:
            image = nibabel.load(str(path))
        finally:
            nibabel_log.level = level
        with ImageOpener(str(path)) as handle:  # NIfTI-1 or NIfTI-2: the loaded header's own class
            raw_header = type(image.header).from_fileobj(handle, check=False)
        data = np.asanyarray(image.dataobj)
        zooms = tuple(float(z) for z in raw_header.get_zooms())
        time_unit = image.header.get_xyzt_units()[1]
        affine = np.asarray(image.affine, dtype=float)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise DataError(path, f"unreadable NIfTI image ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[2] == 1:  # 2-D+t stored with a singleton z axis
        data = data[:, :, 0, :]
        zooms = (zooms[0], zooms[1], zooms[3])
    if data.size == 0:
        raise DataError(path, f"empty NIfTI image: it holds no pixels (dimensions {list(data.shape)})")
    if data.ndim < 2 or len(zooms) < 2:
        raise DataError(path, f"expected a 2-D image or a 2-D+t sequence, got shape {data.shape}")
    spacing = (zooms[1], zooms[0]) if zooms[0] > 0 and zooms[1] > 0 else None
    fps = None
    if data.ndim == 3 and len(zooms) > 2 and zooms[2] > 0 and time_unit in ("sec", "msec"):
        fps = 1.0 / (zooms[2] / (1000.0 if time_unit == "msec" else 1.0))
    return Image(array=data.transpose(tuple(reversed(range(data.ndim)))), spacing_mm=spacing, fps=fps, affine=affine)


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
        # SimpleITK says "No such file or directory" for a data file that is only too short.
        why = _metaimage_data_problem(path) or f"unreadable MetaImage ({str(exc).strip().splitlines()[-1]})"
        raise DataError(path, why) from None
    spacing = image.GetSpacing()
    return Image(array=sitk.GetArrayFromImage(image), spacing_mm=(float(spacing[1]), float(spacing[0])))


METAIMAGE_BYTES = {"MET_UCHAR": 1, "MET_CHAR": 1, "MET_USHORT": 2, "MET_SHORT": 2, "MET_UINT": 4, "MET_INT": 4,
                   "MET_FLOAT": 4, "MET_ULONG": 8, "MET_LONG": 8, "MET_DOUBLE": 8}


def _metaimage_data_problem(path: Path) -> str | None:
    """What is wrong with the raw data file a .mhd header names (missing, or shorter than DimSize x
    ElementType needs), or None when the header cannot tell (compressed, inline or listed data)."""
    try:
        fields = dict(line.split("=", 1) for line in path.read_text(errors="replace").splitlines() if "=" in line)
        fields = {key.strip(): value.strip() for key, value in fields.items()}
        data_name = fields["ElementDataFile"]
        if data_name.upper() in ("LOCAL", "LIST") or fields.get("CompressedData", "False").lower() == "true":
            return None
        needed = math.prod(int(n) for n in fields["DimSize"].split()) * METAIMAGE_BYTES[fields["ElementType"]]
        needed *= int(fields.get("ElementNumberOfChannels", "1"))
    except (OSError, KeyError, ValueError):
        return None
    data_file = path.parent / data_name
    if not data_file.is_file():
        return f"its data file {data_file} (ElementDataFile) not found"
    held = data_file.stat().st_size
    if held < needed:
        return f"its data file {data_file} holds {held} bytes, DimSize and ElementType need {needed} (truncated)"
    return None


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
