"""Per-video output files of `predict`, each written atomically.

Folder layout (`<out>/<name>/`):
  masks.npz      masks bool (T, H, W) at the video's own size (+ fps, spacing_mm), compressed
  masks.nii.gz   the same masks as NIfTI (x, y, t) with pixdim from the spacing, when spacing is known
  frames.csv     frame, area, volume (method of disks), is_ed, is_es, area_unit (mm2|px), volume_unit (ml|px3)
  beats.csv      beat, ed_frame, es_frame, edv, esv, ef
  overlay.mp4    the video with the LV contour (green), the detected fan (yellow, when cropped), ED/ES frames
                 labelled, at least OVERLAY_MIN_SIDE pixels on its shorter side (AVI/MJPG fallback)
  preview.gif    small animated preview of the overlay
  result.json    the video's summary (what goes into summary.csv)
  done.json      written last: its presence means every file above is complete; it records the input
                 (path, absolute path, size, modification time) so a rerun resumes only the same input
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from echoseg.data.files import quiet_opencv
from echoseg.data.identity import PREDICTED_VIDEO_MARKER
from echoseg.io import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

DONE_MARKER = PREDICTED_VIDEO_MARKER  # also how predict's input search knows our folders
RESULT_FILE = "result.json"
GIF_MAX_SIDE = 128
GIF_MAX_FRAMES = 100
GIF_MAX_FPS = 25.0


def write_masks_npz(path: Path, masks: np.ndarray, fps: float | None, spacing_mm) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, masks=masks.astype(bool), fps=np.float64(fps or np.nan),
                            spacing_mm=np.asarray(spacing_mm if spacing_mm else (np.nan, np.nan), dtype=np.float64))


def write_masks_nifti(path: Path, masks: np.ndarray, spacing_mm: tuple[float, float], fps: float | None,
                      affine: np.ndarray | None = None) -> None:
    """bool (T, H, W) -> NIfTI uint8 (x, y, t), pixdim (dx, dy, seconds per frame).

    affine: the input NIfTI's voxel-to-world matrix, so viewers lay the masks over the image in its
    orientation (a rotated or flipped input stays so); without one, axis-aligned from the spacing."""
    import nibabel as nib

    dy, dx = spacing_mm
    if affine is None:
        affine = np.diag([dx, dy, 1.0, 1.0])
    img = nib.Nifti1Image(np.ascontiguousarray(masks.astype(np.uint8).transpose(2, 1, 0)), affine)
    img.header.set_zooms((dx, dy, 1.0 / fps if fps else 1.0))
    img.header.set_xyzt_units("mm", "sec")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def write_frames_csv(path: Path, areas: np.ndarray, volumes: np.ndarray, ed: list[int], es: list[int],
                     physical: bool) -> None:
    """frame, area, volume, is_ed, is_es, area_unit (mm2 | px), volume_unit (ml | px3)."""
    area_unit, volume_unit = ("mm2", "ml") if physical else ("px", "px3")
    ed_set, es_set = set(ed), set(es)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["frame", "area", "volume", "is_ed", "is_es", "area_unit", "volume_unit"])
    for t, (a, v) in enumerate(zip(areas, volumes, strict=True)):
        writer.writerow([t, f"{a:.4f}", f"{v:.4f}", int(t in ed_set), int(t in es_set), area_unit, volume_unit])
    atomic_write_text(path, buf.getvalue())


def write_beats_csv(path: Path, beats) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["beat", "ed_frame", "es_frame", "edv", "esv", "ef", "excluded"])
    for i, b in enumerate(beats):
        writer.writerow([i, b.ed, b.es, f"{b.edv:.4f}", f"{b.esv:.4f}", f"{b.ef:.2f}", b.excluded])
    atomic_write_text(path, buf.getvalue())


OVERLAY_MIN_SIDE = 448  # EchoNet's 112x112 frames are too small to read: overlays are drawn at least this tall


def overlay_scale(shape: tuple[int, ...], min_side: int = OVERLAY_MIN_SIDE) -> int:
    """The integer factor that brings the short side of (T, H, W) frames to at least `min_side` (1 if it is)."""
    return max(1, int(np.ceil(min_side / max(1, min(shape[1], shape[2])))))


def overlay_frames(frames: np.ndarray, masks: np.ndarray, ed: list[int], es: list[int],
                   fan_outline: np.ndarray | None = None, min_side: int = OVERLAY_MIN_SIDE) -> np.ndarray:
    """uint8 (T, H, W) + bool (T, H, W) -> BGR uint8 (T, sH, sW, 3) with the mask contour and ED/ES labels,
    s = `overlay_scale` (frames enlarged so the short side is at least `min_side`; the contour is traced on
    the mask's own pixels and drawn at the enlarged size, not enlarged after drawing);
    fan_outline: (N, 2) (x, y) polygon of the detected ultrasound sector, drawn in yellow."""
    factor = overlay_scale(frames.shape, min_side)
    t_len, h, w = frames.shape
    # Each frame enlarged and made BGR straight into the output (np.repeat of the stacked grey frames took
    # half of this function's time).
    out = np.empty((t_len, h * factor, w * factor, 3), np.uint8)
    ed_set, es_set = set(ed), set(es)
    scale = max(h, w) * factor / 112.0
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px, so a pixel's edge maps exactly onto the enlarged grid
    fan = None if fan_outline is None or len(fan_outline) < 3 else \
        [np.round(((fan_outline + 0.5) * factor - 0.5) * (1 << shift)).astype(np.int32)]
    for t in range(t_len):
        contours, _ = cv2.findContours(masks[t].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contours = [np.round(((c + 0.5) * factor - 0.5) * (1 << shift)).astype(np.int32) for c in contours]
        grey = frames[t] if factor == 1 else cv2.resize(frames[t], (w * factor, h * factor),
                                                         interpolation=cv2.INTER_CUBIC)
        img = cv2.cvtColor(np.ascontiguousarray(grey), cv2.COLOR_GRAY2BGR)
        if fan is not None:
            cv2.polylines(img, fan, True, (0, 220, 255), max(1, int(round(scale / 2))), cv2.LINE_AA, shift)
        for contour in contours:
            cv2.polylines(img, [contour], True, (0, 255, 0), max(1, int(round(scale / 2))), cv2.LINE_AA, shift)
        label = "ED" if t in ed_set else "ES" if t in es_set else None
        if label:
            colour = (0, 0, 255) if label == "ED" else (255, 128, 0)
            cv2.putText(img, label, (int(4 * scale), int(12 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, colour,
                        max(1, int(round(scale / 3))), cv2.LINE_AA)
        out[t] = img
    return out


def write_overlay_video(path: Path, bgr: np.ndarray, fps: float | None) -> Path:
    """Encode BGR frames (T, H, W, 3); MP4 (mp4v) for .mp4, MJPG for .avi; falls back to AVI if MP4 fails."""
    fourcc = "mp4v" if path.suffix.lower() == ".mp4" else "MJPG"
    h, w = bgr.shape[1:3]
    quiet_opencv()
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps or 30.0), (w, h))
        opened = writer.isOpened()
        if opened:
            for frame in bgr:
                writer.write(frame)
        writer.release()
        if not opened:
            raise _EncoderMissing(fourcc)
    return path


class _EncoderMissing(RuntimeError):
    pass


def write_overlay(path: Path, bgr: np.ndarray, fps: float | None) -> Path:
    """The overlay video at `path`, or beside it as .avi when this OpenCV build cannot write MP4."""
    try:
        return write_overlay_video(path, bgr, fps)
    except _EncoderMissing:
        if path.suffix.lower() == ".avi":
            raise RuntimeError(f"{path}: OpenCV cannot write MJPG video") from None
        log.warning("OpenCV cannot write MP4 here; writing the overlay as AVI (MJPG)")
        return write_overlay_video(path.with_suffix(".avi"), bgr, fps)


def write_gif(path: Path, bgr: np.ndarray, fps: float | None) -> None:
    """A small animated GIF: at most GIF_MAX_SIDE pixels, GIF_MAX_FPS frames/s, GIF_MAX_FRAMES frames."""
    from PIL import Image

    fps = fps or 30.0
    step = max(1, int(np.ceil(fps / GIF_MAX_FPS)))
    picked = bgr[::step][:GIF_MAX_FRAMES]
    h, w = picked.shape[1:3]
    factor = min(1.0, GIF_MAX_SIDE / max(h, w))
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    # Quantized here with the fast octree and no dithering: Pillow's default (median cut, dithered) took 5.7 ms
    # per frame, more than segmenting it, and wrote 3x the bytes (benchmarks/RESULTS.md, "predict's writing").
    images = [Image.fromarray(cv2.resize(f, size, interpolation=cv2.INTER_AREA)[..., ::-1])
              .quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) for f in picked]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000.0 * step / fps)), loop=0)


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=True) + "\n")


def input_identity(path: Path) -> dict:
    """What done.json records about the input its folder was made from: the path as given, the
    absolute path, and the file's size and modification time (a file replaced under the same name
    is a different input)."""
    path = Path(path)
    stat = path.stat()
    return {"input": str(path), "input_abs": str(path.resolve()), "input_bytes": stat.st_size,
            "input_mtime_ns": stat.st_mtime_ns}


def write_done(video_dir: Path, input_path: Path, finished: str) -> None:
    write_json(video_dir / DONE_MARKER, {"finished": finished, **input_identity(input_path)})


def read_done(video_dir: Path) -> dict | None:
    """The done marker of a finished folder, or None (unfinished, missing or unreadable)."""
    try:
        done = json.loads((video_dir / DONE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) else None


def made_from(done: dict, input_path: Path) -> bool:
    """True when a done marker was written for this input (same absolute path; markers of older
    versions carry only the path as given)."""
    input_path = Path(input_path)
    if "input_abs" in done:
        return done["input_abs"] == str(input_path.resolve())
    recorded = done.get("input")
    return recorded is not None and (recorded == str(input_path) or Path(recorded).resolve() == input_path.resolve())


def input_changed(done: dict, input_path: Path) -> bool:
    """True when the input file's size or modification time differ from those its results were made from."""
    if "input_bytes" not in done:
        return False
    try:
        stat = Path(input_path).stat()
    except OSError:
        return True
    return (stat.st_size, stat.st_mtime_ns) != (done["input_bytes"], done.get("input_mtime_ns"))


def read_finished(video_dir: Path, input_path: Path | None = None) -> dict | None:
    """The stored result of a finished video (done marker present and result readable), else None.

    With `input_path`, only results made from that input, and from the file as it is now, count."""
    done = read_done(video_dir)
    result = video_dir / RESULT_FILE
    if done is None or not result.is_file():
        return None
    if input_path is not None and (not made_from(done, input_path) or input_changed(done, input_path)):
        return None
    try:
        return json.loads(result.read_text())
    except (OSError, ValueError):
        return None


# Every file a video's folder may hold: a video that is redone loses all of them first, so no file
# of an earlier, interrupted attempt (masks.nii.gz written with a spacing, an overlay) survives.
OUTPUT_FILES = ("masks.npz", "masks.nii.gz", "frames.csv", "beats.csv", "overlay.mp4", "overlay.avi", "preview.gif",
                RESULT_FILE, DONE_MARKER)


def clear_outputs(video_dir: Path) -> None:
    """Remove the done marker first (it must not vouch for files being replaced), then every output
    file and temp files of a killed run."""
    (video_dir / DONE_MARKER).unlink(missing_ok=True)
    for name in OUTPUT_FILES:
        (video_dir / name).unlink(missing_ok=True)
    if video_dir.is_dir():
        for stale in video_dir.glob(".*.tmp*"):
            stale.unlink(missing_ok=True)
