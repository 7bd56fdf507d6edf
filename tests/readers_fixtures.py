"""Tiny datasets written in the real EchoNet-Dynamic and CAMUS formats, for the reader tests.

Nothing here is real data: ellipse LVs in small frames, written with the same libraries users'
files come from (cv2 MJPG AVIs, csv tables, nibabel NIfTI, SimpleITK MetaImage).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from echoseg.geometry.disks import disk_chords, long_axis

ECHONET_SIZE = 112
FILELIST_HEADER = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"]


def ellipse_mask(shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    """bool (H, W) filled ellipse; centre (x, y), half-axes (ax, ay) in pixels, long axis vertical."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((xs - centre[0]) / axes[0]) ** 2 + ((ys - centre[1]) / axes[1]) ** 2 <= 1.0


def lv_mask(t: int, n_frames: int) -> np.ndarray:
    """LV of frame t in a 112x112 EchoNet-like frame: largest at t = 0 (ED), smallest at n_frames // 2 (ES)."""
    phase = 1.0 - abs(t - n_frames // 2) / (n_frames // 2)  # 0 at ED, 1 at ES
    ax, ay = 12 - 4 * phase, 26 - 5 * phase
    return ellipse_mask((ECHONET_SIZE, ECHONET_SIZE), (62, 50), (ax, ay))


def echonet_frames(n_frames: int, channel_offsets=(0, 6, 12)) -> np.ndarray:
    """uint8 BGR (T, 112, 112, 3): dark LV ellipse on a brighter tissue gradient, channels slightly different."""
    ys, xs = np.mgrid[0:ECHONET_SIZE, 0:ECHONET_SIZE]
    tissue = 90 + 0.4 * xs + 0.2 * ys
    frames = []
    for t in range(n_frames):
        gray = np.where(lv_mask(t, n_frames), 25.0, tissue)
        frames.append(np.stack([np.clip(gray + off, 0, 255) for off in channel_offsets], axis=-1).astype(np.uint8))
    return np.stack(frames)


def write_avi(path: Path, frames_bgr: np.ndarray, fps: float = 50.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames_bgr.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()


def tracing_rows(mask: np.ndarray) -> np.ndarray:
    """float (21, 4) X1, Y1, X2, Y2: the long axis (apex, base) then 20 chords apex->base, as EchoNet writes them."""
    apex, base = long_axis(mask)
    geometry = disk_chords(mask, apex, base)
    rows = [np.concatenate([geometry.apex, geometry.base_mid])]
    rows += [np.concatenate([chord[0], chord[1]]) for chord in geometry.chords]
    return np.asarray(rows)


def write_echonet(
    root: Path,
    cases: list[dict],
    *,
    with_avi_suffix: bool = False,
    filelist_columns: list[str] | None = None,
) -> None:
    """Write FileList.csv, VolumeTracings.csv and Videos/ for `cases`.

    Each case dict: name, n_frames, split ('TRAIN'...), ef (FileList EF), traced: list of frame
    indices in listing order (tracing rows from `lv_mask`), optional rows: {frame: (n, 4)} to
    override the tracing rows, write_video (default True), fps.
    """
    root.mkdir(parents=True, exist_ok=True)
    columns = filelist_columns or FILELIST_HEADER
    with open(root / "FileList.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for case in cases:
            name = case["name"] + (".avi" if with_avi_suffix else "")
            values = {
                "FileName": name, "EF": case.get("ef", 50.0), "ESV": case.get("esv", 20.0), "EDV": case.get("edv", 40.0),
                "FrameHeight": ECHONET_SIZE, "FrameWidth": ECHONET_SIZE, "FPS": case.get("fps", 50.0),
                "NumberOfFrames": case["n_frames"], "Split": case.get("split", "TRAIN"),
            }
            writer.writerow([values[column] for column in columns])
    with open(root / "VolumeTracings.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["FileName", "X1", "Y1", "X2", "Y2", "Frame"])
        for case in cases:
            overrides = case.get("rows", {})
            for frame in case.get("traced", []):
                rows = overrides.get(frame)
                if rows is None:
                    rows = tracing_rows(lv_mask(frame, case["n_frames"]))
                for x1, y1, x2, y2 in rows:
                    writer.writerow([case["name"] + ".avi", f"{x1:.4f}", f"{y1:.4f}", f"{x2:.4f}", f"{y2:.4f}", frame])
    (root / "Videos").mkdir(exist_ok=True)
    for case in cases:
        if case.get("write_video", True):
            write_avi(root / "Videos" / f"{case['name']}.avi", echonet_frames(case["n_frames"]), case.get("fps", 50.0))


# --- CAMUS ------------------------------------------------------------------------------------

CAMUS_SHAPE = (24, 16)  # (H, W): not square, so swapped axes show up as wrong shapes
CAMUS_SPACING = (0.3, 0.15)  # (dy, dx) mm: anisotropic, so swapped spacing shows up


def camus_case(n_frames: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(video uint8 (T, H, W), labels uint8 (T, H, W)) ordered ED->ES; the LV shrinks over time.

    Every pixel value encodes (t, y, x) distinctly, so any transposition or flip is detected.
    """
    height, width = CAMUS_SHAPE
    t, y, x = np.mgrid[0:n_frames, 0:height, 0:width]
    video = (t * 40 + y + (x * 7) % 13 + seed).astype(np.uint8)
    labels = np.zeros((n_frames, height, width), np.uint8)
    for frame in range(n_frames):
        half_width = 6 - frame  # LV shrinks: ED (frame 0) largest
        labels[frame, 2:14, 7 - half_width - 1 : 8 + half_width + 1] = 2  # myocardium ring
        labels[frame, 3:13, 7 - half_width : 8 + half_width] = 1  # LV cavity
        labels[frame, 14:20, 4:12] = 3  # left atrium
    return video, labels


def write_nifti(path: Path, array_thw: np.ndarray, spacing: tuple[float, float] = CAMUS_SPACING) -> None:
    """Write (T, H, W) or (H, W) as CAMUS does: nibabel array (x, y[, t]), pixdim (dx, dy[, 1])."""
    import nibabel

    data = array_thw.transpose(tuple(reversed(range(array_thw.ndim))))
    image = nibabel.Nifti1Image(data, affine=np.diag([spacing[1], spacing[0], 1.0, 1.0]))
    image.header.set_zooms((spacing[1], spacing[0], 1.0)[: data.ndim])
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(image, str(path))


def write_mhd(path: Path, array_thw: np.ndarray, spacing: tuple[float, float] = CAMUS_SPACING) -> None:
    """Write (T, H, W) or (H, W) with SimpleITK: array (t, y, x), SetSpacing((dx, dy[, 1]))."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array_thw)
    image.SetSpacing((spacing[1], spacing[0], 1.0)[: array_thw.ndim])
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def write_cfg(path: Path, entries: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}: {value}\n" for key, value in entries.items()))


def write_camus_nifti_patient(
    root: Path, patient: str, view: str, video: np.ndarray, labels: np.ndarray, *,
    reversed_storage: bool = False, half_sequence: bool = True, ef: float = 55.0,
) -> Path:
    """One patient/view of the NIfTI release under root/database_nifti. Returns the patient folder."""
    folder = root / "database_nifti" / patient
    n_frames = len(video)
    stored_video, stored_labels = (video[::-1], labels[::-1]) if reversed_storage else (video, labels)
    ed, es = (n_frames, 1) if reversed_storage else (1, n_frames)
    prefix = folder / f"{patient}_{view}"
    if half_sequence:
        write_nifti(Path(f"{prefix}_half_sequence.nii.gz"), stored_video)
        write_nifti(Path(f"{prefix}_half_sequence_gt.nii.gz"), stored_labels)
    write_nifti(Path(f"{prefix}_ED.nii.gz"), video[0])
    write_nifti(Path(f"{prefix}_ES.nii.gz"), video[-1])
    write_nifti(Path(f"{prefix}_ED_gt.nii.gz"), labels[0])
    write_nifti(Path(f"{prefix}_ES_gt.nii.gz"), labels[-1])
    write_cfg(folder / f"Info_{view}.cfg", {"ED": ed, "ES": es, "NbFrame": n_frames, "Sex": "F", "Age": 60,
                                            "ImageQuality": "Good", "EF": ef, "FrameRate": 25})
    return folder


def write_split_lists(root: Path, splits: dict[str, list[str]]) -> None:
    folder = root / "database_split"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("training", "validation", "testing"):
        (folder / f"subgroup_{name}.txt").write_text("".join(f"{p}\n" for p in splits.get(name, [])))


def write_camus_mhd_patient(
    root: Path, subset: str, patient: str, view: str, video: np.ndarray, labels: np.ndarray,
    *, reversed_storage: bool = False,
) -> Path:
    """One patient/view of the original MetaImage release: sequence + ED/ES images and gt."""
    folder = root / subset / patient
    n_frames = len(video)
    stored_video = video[::-1] if reversed_storage else video
    ed, es = (n_frames, 1) if reversed_storage else (1, n_frames)
    prefix = folder / f"{patient}_{view}"
    write_mhd(Path(f"{prefix}_sequence.mhd"), np.ascontiguousarray(stored_video))
    write_mhd(Path(f"{prefix}_ED.mhd"), video[0])
    write_mhd(Path(f"{prefix}_ES.mhd"), video[-1])
    write_mhd(Path(f"{prefix}_ED_gt.mhd"), labels[0])
    write_mhd(Path(f"{prefix}_ES_gt.mhd"), labels[-1])
    write_cfg(folder / f"Info_{view}.cfg", {"ED": ed, "ES": es, "NbFrame": n_frames, "Sex": "M", "Age": 70,
                                            "ImageQuality": "Medium", "LVedv": 120.0, "LVesv": 60.0, "LVef": 50.0})
    return folder
