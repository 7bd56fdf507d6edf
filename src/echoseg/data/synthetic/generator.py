"""Synthetic apical-4-chamber echo videos with exact ground truth, deterministic by seed.

`generate_video(seed)` draws one heart (shape, EF, timing, drift), the acquisition (fan, quality) and
renders every frame. Its truth: the LV cavity mask and CAMUS-style labels on every frame, every ED and
ES frame, per-frame method-of-disks volumes (exact for the drawn shape) and the EF.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from echoseg.data.schema import SPLITS, EchoSample
from echoseg.data.synthetic.geometry import (
    N_DISKS,
    calibrate_shortening,
    disk_geometry,
    disk_volumes,
    draw_shape,
    heart_frames,
    two_chamber_shape,
)
from echoseg.data.synthetic.imaging import DIFFICULTIES, PRESETS, colour_marks, form_image, make_sector
from echoseg.data.synthetic.motion import draw_drift, draw_timing
from echoseg.data.synthetic.scene import LV_CAVITY, echogenicity, realistic_echogenicity, truth_labels

MIN_FRAMES, MIN_SIZE = 16, 32
VIEWS = ("A4C", "A2C")
DEFAULT_FRAMES = 64  # video length of the classic presets when none is given
REALISTIC_FRAMES = (100, 250)  # realistic preset: drawn per video, as EchoNet-Dynamic's (p10 120, p90 231)


@dataclass
class SyntheticTruth:
    """What the generator knows.

    ed_frames, es_frames: every end-diastole / end-systole frame inside the video (ascending).
    ef: percent, (V[ed] - V[es]) / V[ed] for the sample's first ED and the ES that follows it.
    volumes: (T,) ml, monoplane method of disks (20 disks) on the truth cavity of every frame.
    apex, base_mid: (T, 2) float (x, y) pixels: LV apex and mitral-annulus midpoint per frame.
    diameters: (T, 20) mm, the disk diameters behind `volumes`; lengths: (T,) mm, the long axis.
    labels: (T, H, W) uint8, 0 background, 1 LV cavity, 2 LV myocardium, 3 left atrium.
    params: the drawn scene parameters (heart rate, target EF, hypokinesia, ...), for inspection.
    """

    ed_frames: list[int]
    es_frames: list[int]
    ef: float
    volumes: np.ndarray
    apex: np.ndarray
    base_mid: np.ndarray
    labels: np.ndarray
    diameters: np.ndarray | None = None
    lengths: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    overlay: tuple[np.ndarray, np.ndarray] | None = None  # coloured marks: (mask (H, W) bool, BGR (H, W, 3))


@dataclass
class SyntheticVideo:
    sample: EchoSample
    truth: SyntheticTruth


def _draw_ef(rng: np.random.Generator) -> float:
    """Mostly normal hearts (EF ~ 60), a third with reduced function down to 20%."""
    if rng.random() < 0.65:
        return float(np.clip(rng.normal(60, 6), 45, 75))
    return float(rng.uniform(20, 45))


def draw_echonet_ef(rng: np.random.Generator) -> float:
    """EF drawn like EchoNet-Dynamic's FileList (mean 55.7, SD 12.4, 12.6% below 40): 12.6% reduced
    (uniform 15-40), the rest normal around 59.5 (SD 7, 40-80)."""
    if rng.random() < 0.126:
        return float(rng.uniform(15, 40))
    return float(np.clip(rng.normal(59.5, 7.0), 40, 80))


def draw_echonet_rate(rng: np.random.Generator) -> tuple[float, float]:
    """(heart rate bpm, frame rate) like EchoNet-Dynamic: mostly 50 fps, some 51-55, a few faster
    (FileList mean 51.1, SD 6.2); heart rate about 72 +- 13 bpm."""
    u = rng.random()
    fps = 50.0 if u < 0.78 else float(rng.integers(51, 56)) if u < 0.92 else float(rng.integers(56, 71))
    return float(np.clip(rng.normal(72.0, 13.0), 45.0, 125.0)), fps


def generate_video(seed: int, *, frames: int | None = None, size: int = 112, difficulty: str = "medium",
                   case_id: str | None = None, spacing_mm: tuple[float, float] | None = None,
                   view: str = "A4C") -> SyntheticVideo:
    """One synthetic apical video of `frames` frames of `size` x `size` pixels.

    difficulty: an appearance preset, "easy", "medium", "hard" (classic) or "realistic" (matched to the
    measured statistics of real EchoNet-Dynamic video). frames: None = 64 for the classic presets, drawn
    in 100-250 per video for "realistic".

    view: "A4C" (four-chamber, the default) or "A2C", the two-chamber view of the same heart (same
    seed: same ventricle length, timing, ED/ES frames and fan; its own width profile; no right heart),
    so A4C + A2C give biplane volumes (`true_biplane_ef`).

    spacing_mm: (dy, dx) pixel size; None draws a fan 145-180 mm deep and an isotropic spacing that
    fits it (about 1.3-1.7 mm at 112 px, as in EchoNet-Dynamic's downsampled frames). Anisotropic
    spacing is honoured exactly (the heart is built in millimetres).
    """
    if difficulty not in PRESETS:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    rng = np.random.default_rng(seed)
    preset = PRESETS[difficulty]
    realistic = preset.style == "realistic"
    if frames is None:
        frames = int(rng.integers(REALISTIC_FRAMES[0], REALISTIC_FRAMES[1] + 1)) if realistic else DEFAULT_FRAMES
    if frames < MIN_FRAMES or size < MIN_SIZE:
        raise ValueError(f"need frames >= {MIN_FRAMES} and size >= {MIN_SIZE}, got frames={frames}, size={size}")
    if spacing_mm is not None and (len(spacing_mm) != 2 or min(spacing_mm) <= 0):
        raise ValueError(f"spacing_mm must be two positive numbers (dy, dx), got {spacing_mm!r}")
    sector = make_sector(rng, size, spacing_mm, preset)
    ef_target = draw_echonet_ef(rng) if realistic else _draw_ef(rng)
    shape = draw_shape(rng, sector.frame_depth_mm, ef_target, preset.placement)
    calibrate_shortening(shape, ef_target, long_ratio=rng.uniform(0.35, 0.8))
    heart_rate, fps = draw_echonet_rate(rng) if realistic else (None, None)
    timing = draw_timing(rng, frames, heart_rate, fps)
    shift, turn = draw_drift(rng, timing.q, sector.frame_depth_mm / 150)
    if view == "A2C":
        # Its own generator, so the four-chamber video of this seed stays what it was.
        shape = two_chamber_shape(shape, np.random.default_rng([seed, 2]))
    contours = heart_frames(shape, timing.q, timing.valve_open, shift, turn)

    labels = truth_labels(contours, sector)
    scene = realistic_echogenicity if realistic else echogenicity
    video = form_image(scene(contours, shape, sector, preset, rng), sector, preset, rng)
    overlay = None
    if preset.colour_marks:
        overlay = colour_marks(sector, rng)
        mask, bgr = overlay
        video[:, mask] = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[mask]
    volumes = disk_volumes(shape, timing.q)
    diameters, lengths = disk_geometry(shape, timing.q)
    ed = timing.ed_frames[0]
    es = next(i for i in timing.es_frames if i > ed)
    ef = 100.0 * (volumes[ed] - volumes[es]) / volumes[ed]
    masks = labels == LV_CAVITY
    case = case_id if case_id is not None else f"synth-{seed}"
    sample = EchoSample(
        video=video, masks={i: masks[i] for i in range(frames)}, case_id=case, patient_id=case, ed=ed, es=es,
        spacing_mm=sector.spacing, fps=timing.fps, view=view, ef=float(ef), edv=float(volumes[ed]),
        esv=float(volumes[es]), labels={i: labels[i] for i in range(frames)},
    )
    truth = SyntheticTruth(
        ed_frames=list(timing.ed_frames), es_frames=list(timing.es_frames), ef=float(ef), volumes=volumes,
        apex=sector.to_px(contours.apex), base_mid=sector.to_px(contours.base_mid), labels=labels,
        diameters=diameters, lengths=lengths, overlay=overlay,
        params={
            "seed": int(seed), "difficulty": difficulty, "frames": frames, "size": size, "view": view,
            "spacing_mm": list(spacing_mm) if spacing_mm is not None else None, "ef_target": ef_target, "heart_rate": timing.heart_rate,
            "cycle_frames": timing.cycle_frames, "depth_mm": sector.depth_mm, "radial_shortening": shape.radial,
            "longitudinal_shortening": shape.longitudinal, "hypokinesia": shape.hypo_depth,
            "axis_angle_deg": math.degrees(shape.axis_angle),
        },
    )
    return SyntheticVideo(sample=sample, truth=truth)


def true_biplane_ef(four: SyntheticVideo, two: SyntheticVideo) -> float:
    """Biplane EF (percent) of a heart from the generator's own truth of its A4C and A2C videos (same
    seed), not from masks (that is `echoseg.geometry.volumes.biplane_ef`): Simpson's rule
    V = pi/4 sum(a_i b_i) L / 20, L the longer of the two long axes, at the four-chamber ED and ES."""
    volumes = []
    for frame in (four.sample.ed, four.sample.es):
        a, b = four.truth.diameters[frame], two.truth.diameters[frame]
        length = max(four.truth.lengths[frame], two.truth.lengths[frame])
        volumes.append(math.pi / 4 * float(np.sum(a * b)) * length / N_DISKS)
    return 100.0 * (volumes[0] - volumes[1]) / volumes[0]


def assign_splits(n_videos: int, seed: int, fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> list[str]:
    """Split names for n videos, counts as close to `fractions` as rounding allows, shuffled by seed."""
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ValueError(f"split_fractions must be three non-negative numbers (train, val, test), got {fractions}")
    share = np.asarray(fractions, float) / sum(fractions) * n_videos
    counts = np.floor(share).astype(int)
    for i in np.argsort(counts - share)[: n_videos - counts.sum()]:
        counts[i] += 1
    names = [name for name, count in zip(SPLITS, counts, strict=True) for _ in range(count)]
    return [names[i] for i in np.random.default_rng([seed, 1]).permutation(n_videos)]


def iter_dataset(n_videos: int, seed: int, *, frames: int | None = None, size: int = 112, difficulty: str = "medium",
                 split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
                 spacing_mm: tuple[float, float] | None = None) -> Iterator[SyntheticVideo]:
    """Yield the videos of `generate_dataset` one at a time (writers stream them to disk)."""
    splits = assign_splits(n_videos, seed, split_fractions)
    children = np.random.SeedSequence(seed).spawn(n_videos)
    for index, (split, child) in enumerate(zip(splits, children, strict=True)):
        video = generate_video(int(child.generate_state(1)[0]), frames=frames, size=size, difficulty=difficulty,
                               case_id=f"synth{seed}-{index:05d}", spacing_mm=spacing_mm)
        video.sample.split = split
        yield video


def generate_dataset(n_videos: int, seed: int, *, frames: int | None = None, size: int = 112, difficulty: str = "medium",
                     split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
                     spacing_mm: tuple[float, float] | None = None) -> list[SyntheticVideo]:
    """`n_videos` videos, deterministic by `seed`, each with its split and patient id set."""
    return list(iter_dataset(n_videos, seed, frames=frames, size=size, difficulty=difficulty,
                             split_fractions=split_fractions, spacing_mm=spacing_mm))
