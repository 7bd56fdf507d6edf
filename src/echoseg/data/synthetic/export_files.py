"""Write synthetic scanner exports (`export.render_export`) as the files users bring: an MJPG AVI, or an
ultrasound multi-frame DICOM in one of several transfer syntaxes, plus the truth beside them.

DICOM files carry what scanners write: SequenceOfUltrasoundRegions with the image area and its
physical pixel size (cm), FrameTime (or CineRate / RecommendedDisplayFrameRate / FrameTimeVector, to
test each source of the frame rate), Modality US. Pixel data by `syntax`:

  explicit          Explicit VR Little Endian, RGB
  explicit-ybr422   Explicit VR Little Endian, YBR_FULL_422 (chroma halved horizontally, native layout)
  explicit-mono     Explicit VR Little Endian, MONOCHROME2
  rle               RLE Lossless, RGB (pydicom's own encoder)
  jpeg-baseline     JPEG Baseline 8-bit, YBR_FULL_422: each frame a 4:2:2 JPEG (Pillow), encapsulated by pydicom;
                    pydicom has no JPEG baseline encoder, and this is how scanners store colour cines
  jpeg-lossless     JPEG Lossless SV1, RGB: transcoded by python-gdcm (pydicom cannot encode it)
  jpeg2000          JPEG 2000 (lossy, PSNR 42 dB), RGB, pydicom's encoder (needs pylibjpeg-openjpeg)
  jpeg2000-lossless JPEG 2000 Lossless, RGB, pydicom's encoder (needs pylibjpeg-openjpeg)

`write_export_truth` stores the fan, masks, spacing and placement in an npz beside the file, and
`write_export_dataset` writes a folder of exports of varied layout with a table, for tests and benchmarks.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from echoseg.data.sector import FanGeometry
from echoseg.data.synthetic.export import ScannerExport
from echoseg.io import atomic_path, atomic_write_text

SYNTAXES = ("explicit", "explicit-ybr422", "explicit-mono", "rle", "jpeg-baseline", "jpeg-lossless", "jpeg2000",
            "jpeg2000-lossless")
FRAME_RATE_TAGS = ("FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate")
ULTRASOUND_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def write_export_avi(path: str | Path, export: ScannerExport) -> Path:
    """MJPG AVI of the colour canvas (as a PACS 'export to video' writes)."""
    path = Path(path)
    t, h, w, _ = export.rgb.shape
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(export.fps), (w, h), True)
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot open an MJPG writer for {path}")
        try:
            for frame in export.rgb:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
    return path


def write_export_dicom(path: str | Path, export: ScannerExport, syntax: str = "jpeg-baseline", *,
                       frame_rate_tag: str = "FrameTime", regions: bool = True, quality: int = 90) -> Path:
    """An ultrasound multi-frame DICOM of the export in transfer syntax `syntax` (see module doc).

    frame_rate_tag: which attribute carries the frame rate (one of FRAME_RATE_TAGS); regions: write
    SequenceOfUltrasoundRegions (the image box and its spacing) - without it the file has no spacing.
    """
    if syntax not in SYNTAXES:
        raise ValueError(f"syntax must be one of {SYNTAXES}, got {syntax!r}")
    if frame_rate_tag not in FRAME_RATE_TAGS:
        raise ValueError(f"frame_rate_tag must be one of {FRAME_RATE_TAGS}, got {frame_rate_tag!r}")
    from pydicom import uid

    path = Path(path)
    ds = _dataset(export, frame_rate_tag, regions)
    t, h, w, _ = export.rgb.shape
    rgb = np.ascontiguousarray(export.rgb)
    if syntax == "explicit-mono":
        _set_pixels(ds, export.gray, "MONOCHROME2")
    elif syntax == "explicit-ybr422":
        if w % 2:
            raise ValueError(f"YBR_FULL_422 needs an even width, got {w}")
        _set_pixels(ds, rgb, "YBR_FULL_422", raw=_ybr422_native(rgb))
    else:
        _set_pixels(ds, rgb, "RGB")
    if syntax == "rle":
        ds.compress(uid.RLELossless, rgb, encoding_plugin="pydicom")
    elif syntax == "jpeg-baseline":
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate([_jpeg_422(frame, quality) for frame in rgb])
        ds["PixelData"].VR = "OB"
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.file_meta.TransferSyntaxUID = uid.JPEGBaseline8Bit
    elif syntax in ("jpeg2000", "jpeg2000-lossless"):
        with _quiet("openjpeg"):  # it logs a line per frame at INFO
            if syntax == "jpeg2000":
                ds.compress(uid.JPEG2000, rgb, j2k_psnr=[42.0])
            else:
                ds.compress(uid.JPEG2000Lossless, rgb)
    with atomic_path(path) as tmp:
        ds.save_as(str(tmp), enforce_file_format=True)
        if syntax == "jpeg-lossless":
            _gdcm_transcode(tmp, "JPEGLosslessProcess14_1")
    return path


@contextmanager
def _quiet(logger_name: str):
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _dataset(export: ScannerExport, frame_rate_tag: str, regions: bool):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ULTRASOUND_MULTIFRAME
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = "US", "SYNTHETIC^EXPORT", export.case_id
    ds.Manufacturer = "echoseg synthetic"
    t, h, w, _ = export.rgb.shape
    ds.Rows, ds.Columns, ds.NumberOfFrames = h, w, t
    ds.FrameIncrementPointer = pydicom.tag.Tag(frame_rate_tag if frame_rate_tag in ("FrameTime", "FrameTimeVector")
                                               else "FrameTime")
    if frame_rate_tag == "FrameTime":
        ds.FrameTime = f"{1000.0 / export.fps:.4f}"
    elif frame_rate_tag == "FrameTimeVector":
        ds.FrameTimeVector = ["0"] + [f"{1000.0 / export.fps:.4f}"] * (t - 1)
    elif frame_rate_tag == "CineRate":
        ds.CineRate = int(round(export.fps))
    else:
        ds.RecommendedDisplayFrameRate = int(round(export.fps))
    if regions:
        x0, y0, x1, y1 = export.region
        item = pydicom.Dataset()
        item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
        item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1 - 1, y1 - 1
        item.PhysicalUnitsXDirection, item.PhysicalUnitsYDirection = 3, 3  # cm
        item.PhysicalDeltaX, item.PhysicalDeltaY = export.spacing_mm[1] / 10.0, export.spacing_mm[0] / 10.0
        ds.SequenceOfUltrasoundRegions = pydicom.Sequence([item])
    return ds


def _set_pixels(ds, pixels: np.ndarray, photometric: str, raw: bytes | None = None) -> None:
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = photometric
    if pixels.ndim == 4:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    else:
        ds.SamplesPerPixel = 1
    ds.PixelData = raw if raw is not None else np.ascontiguousarray(pixels).tobytes()


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB -> YCbCr full range (DICOM YBR_FULL, BT.601 weights), float."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return np.stack([y, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128 + 0.5 * r - 0.418688 * g - 0.081312 * b], -1)


def _ybr422_native(rgb: np.ndarray) -> bytes:
    """Native YBR_FULL_422 bytes: per pair of pixels Y1 Y2 Cb Cr (chroma averaged over the pair)."""
    ybr = _ycbcr(rgb)
    y = ybr[..., 0]
    chroma = (ybr[..., 1:][..., 0::2, :] + ybr[..., 1:][..., 1::2, :]) / 2  # (T, H, W/2, 2)
    packed = np.concatenate([y[..., 0::2, None], y[..., 1::2, None], chroma], axis=-1)
    return np.clip(np.rint(packed), 0, 255).astype(np.uint8).tobytes()


def _jpeg_422(frame: np.ndarray, quality: int) -> bytes:
    """One RGB frame as a baseline JPEG stored YCbCr with 4:2:2 chroma subsampling."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame, "RGB").save(buffer, format="JPEG", quality=quality, subsampling=1)
    return buffer.getvalue()


def _gdcm_transcode(path: Path, syntax_name: str) -> None:
    """Rewrite the DICOM file at `path` in place in another transfer syntax with python-gdcm."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise RuntimeError(f"gdcm cannot read {path}")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax_name)))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"gdcm cannot transcode {path} to {syntax_name}")
    writer = gdcm.ImageWriter()
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    writer.SetFileName(str(path))
    if not writer.Write():
        raise RuntimeError(f"gdcm cannot write {path}")


# ----------------------------------------------------------------------------------------------
# Truth and datasets


def write_export_truth(path: str | Path, export: ScannerExport) -> Path:
    """npz beside an export: fan (JSON), masks bit-packed (T, H, W), spacing, fps, region, placement."""
    path = Path(path)
    arrays = {
        "fan": np.array(json.dumps(export.fan.to_dict())), "masks_packed": np.packbits(export.masks.ravel()),
        "mask_shape": np.array(export.masks.shape), "spacing_mm": np.array(export.spacing_mm, float),
        "fps": np.float64(export.fps), "region": np.array(export.region), "placement": np.array(json.dumps(export.placement)),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def read_export_truth(path: str | Path) -> dict:
    """What `write_export_truth` stored: fan (FanGeometry), masks bool (T, H, W), spacing_mm, fps, region, placement."""
    with np.load(path, allow_pickle=False) as npz:
        shape = tuple(int(v) for v in npz["mask_shape"])
        masks = np.unpackbits(npz["masks_packed"], count=int(np.prod(shape))).reshape(shape).astype(bool)
        return {"fan": FanGeometry.from_dict(json.loads(str(npz["fan"]))), "masks": masks,
                "spacing_mm": tuple(float(v) for v in npz["spacing_mm"]), "fps": float(npz["fps"]),
                "region": tuple(int(v) for v in npz["region"]), "placement": json.loads(str(npz["placement"]))}


def write_export_dataset(root: str | Path, exports: Iterable[ScannerExport], *, kinds: Iterable[str] = ("avi",)) -> Path:
    """`<root>/<case>.<ext>` per export and kind ("avi" or a DICOM syntax), `<root>/truth/<case>.npz`, and
    `<root>/exports.csv` (case, file, kind, frames, height, width, fps, spacing) written last."""
    root = Path(root)
    kinds = list(kinds)
    rows = []
    for export in exports:
        t, h, w, _ = export.rgb.shape
        write_export_truth(root / "truth" / f"{export.case_id}.npz", export)
        for kind in kinds:
            if kind == "avi":
                name = f"{export.case_id}.avi"
                write_export_avi(root / name, export)
            else:
                name = f"{export.case_id}-{kind}.dcm"
                write_export_dicom(root / name, export, kind)
            rows.append((export.case_id, name, kind, t, h, w, f"{export.fps:g}", f"{export.spacing_mm[0]:.6f}",
                         f"{export.spacing_mm[1]:.6f}"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("case_id", "file", "kind", "frames", "height", "width", "fps", "spacing_dy_mm", "spacing_dx_mm"))
    writer.writerows(rows)
    atomic_write_text(root / "exports.csv", buffer.getvalue())
    return root
