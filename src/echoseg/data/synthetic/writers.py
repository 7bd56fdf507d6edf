"""Write synthetic videos in the EchoNet-Dynamic, CAMUS (NIfTI) and native layouts.

Every writer takes an iterable of `SyntheticVideo` and consumes it one video at a time, so a large
dataset streams to disk (`iter_dataset`) without being held in memory. Every file is written
atomically; tables are written last, so an interrupted run never leaves a table listing missing files.

EchoNet-Dynamic (ARCHITECTURE.md): `FileList.csv`, `Videos/<name>.avi` (MJPG, 3 channels that differ
slightly) and `VolumeTracings.csv` with 21 rows per traced frame (ED and ES only): the long axis
(apex -> mitral midpoint) then 20 chords from apex to mitral valve. Our reader rebuilds the mask as the
filled polygon of (X1[1:], Y1[1:]) then reversed (X2[1:], Y2[1:]), vertices rounded.

CAMUS (NIfTI release): `database_nifti/patientNNNN/patientNNNN_{4CH,2CH}_{ED,ES}[_gt].nii.gz`,
`..._{4CH,2CH}_half_sequence[_gt].nii.gz` (ED -> ES, gt on every frame), `Info_{4CH,2CH}.cfg` (2CH
only when asked: a second view of the same heart), and
`database_split/subgroup_{training,validation,testing}.txt`. Arrays are (x, y[, t]) = (W, H[, T]) with
pixdim (dx, dy[, 1]). Patients are numbered in the order the videos come (patient0001 is the first).

Native (`synthetic`): `cases/<case_id>.npz` (video, all-frame masks bit-packed, labels, ED/ES lists,
spacing, volumes, EF, apex/base per frame) and `cases.csv`; read with `SyntheticReader`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from echoseg.data.synthetic.generator import SyntheticVideo
from echoseg.geometry.disks import N_DISKS, disk_chords
from echoseg.io import atomic_path, atomic_write_text

FILELIST_COLUMNS = ("FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split")
TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
NATIVE_COLUMNS = ("case_id", "patient_id", "split", "n_frames", "fps", "ef", "edv", "esv", "view", "file")
CAMUS_SPLIT_FILES = {"train": "subgroup_training.txt", "val": "subgroup_validation.txt", "test": "subgroup_testing.txt"}
CAMUS_QUALITY = {"easy": "Good", "medium": "Medium", "hard": "Poor"}

# Chord endpoints sit this far (pixels) inside the cavity edge the walk finds, i.e. on the last cavity
# pixel rather than past it: rounded vertices then neither gain nor lose a ring of pixels.
CHORD_PULL_PX = 0.2
# The basal chord is measured this far (pixels) inside the annulus, where it surely crosses the cavity,
# then moved BASE_PUSH_PX towards the annulus so the polygon keeps the cavity's basal row.
BASE_MARGIN_PX = 1.0
BASE_PUSH_PX = 0.5


def _csv_text(columns: Iterable[str], rows: Iterable[Iterable]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def tracing_rows(mask: np.ndarray, apex: np.ndarray, base_mid: np.ndarray) -> np.ndarray:
    """The 21 EchoNet tracing rows (X1, Y1, X2, Y2) of one LV mask: long axis, then 20 chords.

    Chords are perpendicular to the apex -> base axis at 20 evenly spaced positions from the apex
    (a zero-length chord) to the annulus, so the polygon through their endpoints covers the cavity
    from tip to base (Dice >= 0.97 with the mask) and V = pi/4 sum(d^2) L / 20 on the rows agrees
    with the EF. Pixel units (EchoNet has no spacing).
    """
    apex, base_mid = np.asarray(apex, float), np.asarray(base_mid, float)
    length = float(np.linalg.norm(base_mid - apex))
    fractions = np.linspace(0.0, 1.0, N_DISKS)
    fractions[-1] = 1.0 - BASE_MARGIN_PX / length
    chords = disk_chords(mask, apex, base_mid, None, N_DISKS, fractions=fractions).chords
    middle = chords.mean(axis=1, keepdims=True)
    half = chords - middle
    norm = np.linalg.norm(half, axis=-1, keepdims=True)
    chords = middle + half * np.clip(norm - CHORD_PULL_PX, 0, None) / np.maximum(norm, 1e-9)
    chords[-1] += (base_mid - apex) / length * BASE_PUSH_PX
    return np.concatenate([np.concatenate([apex, base_mid])[None, :], chords.reshape(N_DISKS, 4)])


def write_avi(path: Path, video: np.ndarray, fps: float,
              overlay: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """MJPG AVI with 3 channels that differ slightly, as EchoNet's files do (readers must convert).
    `overlay` (mask (H, W) bool, BGR (H, W, 3) uint8): coloured marks painted over every frame."""
    t, h, w = video.shape
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (w, h), True)
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot open an MJPG writer for {path}")
        try:
            signal = video > 0
            for frame, lit in zip(video, signal, strict=True):
                blue = np.where(lit, np.minimum(frame.astype(np.int16) + 3, 255), frame)
                red = np.where(lit, np.maximum(frame.astype(np.int16) - 2, 0), frame)
                colour = np.stack([blue, frame, red], axis=-1).astype(np.uint8)
                if overlay is not None:
                    colour[overlay[0]] = overlay[1][overlay[0]]
                writer.write(colour)
        finally:
            writer.release()


def write_echonet(root: str | Path, videos: Iterable[SyntheticVideo], *, avi_suffix: bool = False,
                  es_first: bool = True) -> Path:
    """EchoNet-Dynamic layout under `root`. `avi_suffix=True` writes FileList names with `.avi` (older
    releases). The ES tracing is listed before the ED one, as echonet/dynamic expects of EchoNet-Dynamic
    (`echoseg data summary` checks that convention, and counted our own datasets against it);
    `es_first=False` lists ED first, an order readers must not trust (they take ED by area).
    Videos without a split are listed as TRAIN."""
    root = Path(root)
    filelist, tracings = [], []
    for video in videos:
        s, truth = video.sample, video.truth
        name = s.case_id
        write_avi(root / "Videos" / f"{name}.avi", s.video, s.fps, truth.overlay)
        t, h, w = s.video.shape
        filelist.append((f"{name}.avi" if avi_suffix else name, f"{s.ef:.6f}", f"{s.esv:.6f}", f"{s.edv:.6f}",
                         h, w, f"{s.fps:g}", t, (s.split or "train").upper()))
        for frame in ((s.es, s.ed) if es_first else (s.ed, s.es)):
            rows = tracing_rows(s.masks[frame], truth.apex[frame], truth.base_mid[frame])
            tracings.extend((f"{name}.avi", *(f"{v:.6f}" for v in row), frame) for row in rows)
    atomic_write_text(root / "VolumeTracings.csv", _csv_text(TRACING_COLUMNS, tracings))
    atomic_write_text(root / "FileList.csv", _csv_text(FILELIST_COLUMNS, filelist))
    return root


def _save_nifti(path: Path, array_thw: np.ndarray, spacing: tuple[float, float]) -> None:
    """Save (T, H, W) or (H, W) as NIfTI (W, H[, T]) with pixdim (dx, dy[, 1])."""
    import nibabel as nib

    dy, dx = spacing
    data = np.ascontiguousarray(np.moveaxis(array_thw, (-1, -2), (0, 1)))  # (..., H, W) -> (W, H, ...)
    image = nib.Nifti1Image(data, np.diag([dx, dy, 1.0, 1.0]))
    image.header.set_zooms((dx, dy, 1.0)[: data.ndim])
    with atomic_path(path) as tmp:
        nib.save(image, str(tmp))


def _write_camus_view(folder: Path, patient: str, tag: str, video: SyntheticVideo, reverse: bool, ef: float) -> None:
    """One view's images, gt, half sequence and Info_<tag>.cfg (ED/ES 1-based in the half sequence)."""
    s, truth = video.sample, video.truth
    stem = f"{patient}_{tag}"
    frames = np.arange(s.ed, s.es + 1)
    if reverse:
        frames = frames[::-1]
    for phase, index in (("ED", s.ed), ("ES", s.es)):
        _save_nifti(folder / f"{stem}_{phase}.nii.gz", s.video[index], s.spacing_mm)
        _save_nifti(folder / f"{stem}_{phase}_gt.nii.gz", truth.labels[index], s.spacing_mm)
    _save_nifti(folder / f"{stem}_half_sequence.nii.gz", s.video[frames], s.spacing_mm)
    _save_nifti(folder / f"{stem}_half_sequence_gt.nii.gz", truth.labels[frames], s.spacing_mm)
    n = len(frames)
    rng = np.random.default_rng([truth.params.get("seed", 0), 3])  # same patient data in both views
    cfg = {
        "ED": n if reverse else 1, "ES": 1 if reverse else n, "NbFrame": n,
        "Sex": "F" if rng.random() < 0.35 else "M", "Age": int(rng.integers(20, 95)),
        "ImageQuality": CAMUS_QUALITY.get(truth.params.get("difficulty", "medium"), "Medium"),
        "EF": f"{ef:.1f}", "FrameRate": f"{s.fps:g}",
    }
    atomic_write_text(folder / f"Info_{tag}.cfg", "".join(f"{k}: {v}\n" for k, v in cfg.items()))


def write_camus(root: str | Path, videos: Iterable[SyntheticVideo], *, reverse_every: int = 0,
                two_chamber: bool = False) -> Path:
    """CAMUS NIfTI layout under `root`: the 4CH view, and with `two_chamber` the 2CH view of the same
    heart (generated from the video's seed) with both cfgs giving the biplane EF, as CAMUS does.

    reverse_every: every n-th patient (n > 0) gets its half sequences stored ES -> ED, with the cfg's
    ED/ES pointing at the last/first frame, as some real sequences are (readers must reorient).
    Info_<view>.cfg gives ED and ES 1-based within the half sequence, NbFrame its length.
    """
    from echoseg.data.synthetic.generator import generate_video, true_biplane_ef

    root = Path(root)
    split_lists: dict[str, list[str]] = {name: [] for name in CAMUS_SPLIT_FILES}
    for number, video in enumerate(videos, start=1):
        patient = f"patient{number:04d}"
        folder = root / "database_nifti" / patient
        reverse = reverse_every > 0 and number % reverse_every == 0
        ef = video.truth.ef
        if two_chamber:
            p = video.truth.params
            spacing = tuple(p["spacing_mm"]) if p.get("spacing_mm") else None
            two = generate_video(p["seed"], frames=p["frames"], size=p["size"], difficulty=p["difficulty"],
                                 case_id=f"{video.sample.case_id}-A2C", spacing_mm=spacing, view="A2C")
            ef = true_biplane_ef(video, two)
            _write_camus_view(folder, patient, "2CH", two, reverse, ef)
        _write_camus_view(folder, patient, "4CH", video, reverse, ef)
        split_lists[video.sample.split or "train"].append(patient)
    for split, filename in CAMUS_SPLIT_FILES.items():
        atomic_write_text(root / "database_split" / filename, "".join(f"{p}\n" for p in split_lists[split]))
    return root


def write_synthetic(root: str | Path, videos: Iterable[SyntheticVideo]) -> Path:
    """Native layout: `cases/<case_id>.npz` per video plus `cases.csv` (read by SyntheticReader)."""
    root = Path(root)
    rows = []
    for video in videos:
        s, truth = video.sample, video.truth
        masks = np.stack([s.masks[i] for i in range(s.n_frames)])
        relative = f"cases/{s.case_id}.npz"
        arrays = {
            "video": s.video, "masks_packed": np.packbits(masks.ravel()), "mask_shape": np.array(masks.shape),
            "labels": truth.labels, "ed": np.int64(s.ed), "es": np.int64(s.es),
            "ed_frames": np.array(truth.ed_frames, np.int64), "es_frames": np.array(truth.es_frames, np.int64),
            "spacing_mm": np.array(s.spacing_mm, float), "fps": np.float64(s.fps), "ef": np.float64(truth.ef),
            "volumes": truth.volumes, "apex": truth.apex, "base_mid": truth.base_mid,
            "params": np.array(json.dumps(truth.params)),
        }
        if truth.diameters is not None and truth.lengths is not None:
            arrays.update(diameters=truth.diameters, lengths=truth.lengths)
        with atomic_path(root / relative) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        rows.append((s.case_id, s.patient_id, s.split or "", s.n_frames, f"{s.fps:g}", f"{s.ef:.6f}",
                     f"{s.edv:.6f}", f"{s.esv:.6f}", s.view or "", relative))
    atomic_write_text(root / "cases.csv", _csv_text(NATIVE_COLUMNS, rows))
    return root
