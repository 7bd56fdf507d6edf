"""Ultrasound image formation: sector geometry, speckle, attenuation, log compression, scan conversion.

The scene gives echogenicity (dB relative to myocardium) on the output pixel grid. It is resampled to
a polar beam grid (depth x beam angle), where the physics lives: complex Gaussian scatterers weighted
by the amplitude are blurred by an anisotropic point-spread function (short along the beam, wide
across it, so speckle grains are elongated laterally and widen with depth as in real B-mode), the
envelope is detected, thermal noise grows with the time-gain compensation, and the result is log
compressed into a display range. Scan conversion back to the pixel grid gives the fan.
Scatterers partly decorrelate between frames (AR(1) in time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from echoseg.data.synthetic.geometry import Placement

DIFFICULTIES = ("easy", "medium", "hard", "realistic")
Range = tuple[float, float]


@dataclass(frozen=True)
class ImagingPreset:
    """Acquisition quality and the ranges each video's acquisition is drawn from. dB values are relative
    to myocardium (0 dB). Ranges are (low, high) of a uniform draw per video.

    `style` "classic" (easy, medium, hard: bright uniform walls, the presets the tests were written
    for) or "realistic" (matched to measured statistics of real EchoNet-Dynamic video: mid-grey
    textured myocardium, an interrupted endocardial border, specular septum/annulus/valves, coloured
    overlay marks, EchoNet-like video length, frame rate, EF and LV placement; see docs/synthetic.md).
    """

    blood_db: float  # blood pool echogenicity: lower means darker cavities, higher contrast
    tissue_db: float  # tissue outside the heart
    speckle: float  # 0 fully smoothed .. 1 fully developed speckle (log-domain blend)
    noise_db: float  # thermal noise at the deepest point after gain compensation
    dropout_prob: float  # chance of a wall region that fades (beam nearly parallel to the wall)
    dropout_db: tuple[float, float]
    shadow_prob: float  # chance of a rib shadow wedge
    haze_prob: float  # chance of near-field clutter filling the LV apex
    haze_db: float
    texture_db: float  # spatial echogenicity variation
    decorrelation: tuple[float, float]  # range of the frame-to-frame speckle correlation
    style: str = "classic"
    # Fan and beam (domain randomisation). Classic defaults are the values the first presets used.
    depth_mm: Range = (145.0, 180.0)  # depth the frame shows; the frame's pixel pitch follows (zoom)
    # Fan radius / the depth the frame shows. 1: the whole fan, its arc at the frame's bottom. Above 1 the
    # frame cuts the fan's arc off, as EchoNet-Dynamic's square crops do (their mean frame is lit to the
    # bottom corners: the arc lies beyond them, at least 1.12 frame heights from the apex).
    overshoot: Range = (1.0, 1.0)
    apex_offset_px: Range = (-1.0, 1.0)  # transducer right of the frame's centre, px at 112 (scaled)
    apex_drop_px: Range = (0.0, 0.0)  # transducer below the frame's top edge, px at 112 (0: above it, by the gap)
    half_angle_deg: Range = (38.0, 45.0)  # half the sector angle
    tilt_deg: float = 0.0  # fan steering drawn in [-tilt, tilt] degrees (0: symmetric fan, no draw)
    psf_depth: Range = (0.6, 0.9)  # axial PSF sigma, in beam-grid samples per 145 depth samples
    psf_beam: Range = (0.9, 1.4)  # lateral PSF sigma, in beams per 112 beams
    # Beam grid density: beams per output pixel across the frame, depth samples per pixel down it. Denser
    # with a narrower PSF gives finer speckle (benchmarks/experiments/texture_bands.py).
    beams_per_px: float = 1.0
    depth_samples_per_px: float = 1.3
    # Gain chain: global gain, residual depth slope after TGC, a wavy TGC profile, weaker fan edges,
    # then log compression into `dynamic_range_db` whose top is `top_db` above myocardium, and gamma.
    gain_db: Range = (-4.0, 4.0)
    depth_gain_db: Range = (-6.0, 2.0)
    tgc_ripple_db: float = 1.5
    edge_loss_db: Range = (2.0, 6.0)
    dynamic_range_db: Range = (52.0, 62.0)
    top_db: Range = (9.0, 14.0)
    gamma: Range = (1.2, 1.6)
    noise_jitter_db: float = 3.0
    placement: Placement = Placement()
    colour_marks: bool = False  # coloured overlay marks (orientation dot, ECG remnant), as scanners burn in


PRESETS = {
    "easy": ImagingPreset(blood_db=-50, tissue_db=-20, speckle=0.6, noise_db=-60, dropout_prob=0.1,
                          dropout_db=(4, 8), shadow_prob=0.05, haze_prob=0.05, haze_db=-34, texture_db=1.5,
                          decorrelation=(0.75, 0.9)),
    "medium": ImagingPreset(blood_db=-42, tissue_db=-20, speckle=0.8, noise_db=-48, dropout_prob=0.45,
                            dropout_db=(6, 14), shadow_prob=0.2, haze_prob=0.3, haze_db=-28, texture_db=2.5,
                            decorrelation=(0.6, 0.85)),
    "hard": ImagingPreset(blood_db=-34, tissue_db=-19, speckle=1.0, noise_db=-38, dropout_prob=0.8,
                          dropout_db=(10, 20), shadow_prob=0.4, haze_prob=0.6, haze_db=-20, texture_db=3.5,
                          decorrelation=(0.45, 0.75)),
    # Matched to real EchoNet-Dynamic A4C video (benchmarks/RESULTS.md, docs/synthetic.md): the scene's
    # own levels are in scene.REALISTIC_LEVELS_DB; blood_db and tissue_db are not used by this style.
    "realistic": ImagingPreset(blood_db=-42, tissue_db=-6, speckle=1.0, noise_db=-45, dropout_prob=1.0,
                               dropout_db=(6, 16), shadow_prob=0.15, haze_prob=0.7, haze_db=-24, texture_db=2.5,
                               decorrelation=(0.85, 0.95), style="realistic", depth_mm=(140.0, 175.0),
                               tilt_deg=4.0, psf_depth=(1.2, 1.8), psf_beam=(0.8, 1.4),
                               gain_db=(-3.0, 3.0), depth_gain_db=(-6.0, 2.0), tgc_ripple_db=2.5,
                               edge_loss_db=(2.0, 8.0), dynamic_range_db=(48.0, 60.0), top_db=(22.0, 30.0),
                               gamma=(1.2, 1.6), overshoot=(1.12, 1.35), apex_offset_px=(2.0, 8.0),
                               apex_drop_px=(2.0, 7.0), half_angle_deg=(37.0, 44.0),
                               placement=Placement(apex_x=(-0.09, 0.04), apex_depth=(0.22, 0.29),
                                                                     length=(0.5, 0.6), axis_deg=(4.0, 16.0),
                                                                     width=(0.26, 0.32)),
                               colour_marks=True),
}


@dataclass
class Sector:
    """The fan and its beam grid for an output image of `shape` (H, W) with pixel `spacing` (dy, dx) mm.

    The transducer sits at pixel `origin_px` (x, y) (just above the top row, mid-width); beams span
    +-`half_angle` radians, `depth_mm` deep (the fan's radius); the frame shows `view_depth_mm` of it
    (the heart is scaled to that). Polar grid: `n_depth` samples x `n_beams` beams.
    """

    shape: tuple[int, int]
    spacing: tuple[float, float]
    origin_px: np.ndarray
    half_angle: float
    depth_mm: float
    n_depth: int
    n_beams: int
    inside: np.ndarray  # (H, W) bool: pixel in the fan
    edge_fade: np.ndarray  # (H, W) float32: soft fan edges
    polar_from_cart: tuple[np.ndarray, np.ndarray]  # maps (n_depth, n_beams) into pixel coordinates
    cart_from_polar: tuple[np.ndarray, np.ndarray]  # maps (H, W) into beam-grid coordinates
    depth_of_row: np.ndarray  # (n_depth,) mm
    tilt: float = 0.0  # steering of the fan's centre line, radians (positive: towards the image right)
    view_depth_mm: float | None = None  # the depth the frame shows; None: the whole fan (depth_mm)

    @property
    def frame_depth_mm(self) -> float:
        """The depth the frame shows, mm: what the heart and its drift are scaled to."""
        return self.depth_mm if self.view_depth_mm is None else self.view_depth_mm

    def to_px(self, points_mm: np.ndarray) -> np.ndarray:
        """(..., 2) points (x, y) in mm from the transducer -> pixel coordinates (x = column, y = row)."""
        dy, dx = self.spacing
        return points_mm / np.array([dx, dy]) + self.origin_px


def make_sector(rng: np.random.Generator, size: int, spacing_mm: tuple[float, float] | None,
                preset: ImagingPreset | None = None) -> Sector:
    """Draw a fan: depth from the preset's range (classic: 145-180 mm) and a spacing to fit it unless
    `spacing_mm` (dy, dx) is given; half angle and (realistic) steering tilt from the preset."""
    preset = preset or PRESETS["medium"]
    gap_mm = rng.uniform(1.0, 4.0)
    if spacing_mm is None:
        depth = rng.uniform(*preset.depth_mm)
        pitch = (depth + gap_mm) * rng.uniform(0.97, 1.04) / size
        spacing = (pitch, pitch)
    else:
        spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
        depth = min(size * spacing[0], size * spacing[1]) * rng.uniform(0.96, 1.0) - gap_mm
    dy, dx = spacing
    origin = np.array([(size - 1) / 2 + rng.uniform(*preset.apex_offset_px) * size / 112, -gap_mm / dy])
    if preset.apex_drop_px != (0.0, 0.0):  # drawn only then, so the classic presets keep their random stream
        origin[1] += rng.uniform(*preset.apex_drop_px) * size / 112
    half_angle = math.radians(rng.uniform(*preset.half_angle_deg))
    tilt = math.radians(rng.uniform(-preset.tilt_deg, preset.tilt_deg)) if preset.tilt_deg > 0 else 0.0
    view_depth = None
    if preset.overshoot != (1.0, 1.0):  # drawn only then, so the classic presets keep their random stream
        view_depth, depth = depth, depth * rng.uniform(*preset.overshoot)
    # The beam grid keeps its sampling density over a fan that runs beyond the frame.
    n_depth = int(round(preset.depth_samples_per_px * size * depth / (view_depth or depth)))
    n_beams = int(round(preset.beams_per_px * size))

    # Pixel grid -> (depth, angle); angles are measured from the fan's own centre line (tilted).
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x_mm = (cols - origin[0]) * dx
    y_mm = (rows - origin[1]) * dy
    radius = np.hypot(x_mm, y_mm)
    angle = np.arctan2(x_mm, y_mm) - tilt
    depth_index = radius / depth * (n_depth - 1)
    beam_index = (angle + half_angle) / (2 * half_angle) * (n_beams - 1)
    inside = (radius <= depth) & (np.abs(angle) <= half_angle)
    soft = np.clip((half_angle - np.abs(angle)) * radius / (1.5 * dx), 0, 1) * np.clip((depth - radius) / (1.5 * dy), 0, 1)

    # Beam grid -> pixel coordinates.
    r = np.linspace(0, depth, n_depth)[:, None]
    a = np.linspace(-half_angle, half_angle, n_beams)[None, :] + tilt
    map_col = r * np.sin(a) / dx + origin[0]
    map_row = r * np.cos(a) / dy + origin[1]
    return Sector(
        shape=(size, size), spacing=spacing, origin_px=origin, half_angle=half_angle, depth_mm=depth,
        n_depth=n_depth, n_beams=n_beams, inside=inside, edge_fade=(soft * inside).astype(np.float32),
        polar_from_cart=(map_col.astype(np.float32), map_row.astype(np.float32)),
        cart_from_polar=(beam_index.astype(np.float32), depth_index.astype(np.float32)),
        depth_of_row=r[:, 0], tilt=tilt, view_depth_mm=view_depth,
    )


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random field (low spatial frequencies only)."""
    field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return field / max(float(field.std()), 1e-6)


FRAMES_PER_CV2_CALL = 64


def _stack_channels(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) -> (H, W, T) contiguous, the layout cv2 filters many channels in one call."""
    return np.ascontiguousarray(np.moveaxis(frames, 0, -1))


def form_image(amplitude: np.ndarray, sector: Sector, preset: ImagingPreset, rng: np.random.Generator) -> np.ndarray:
    """Echo video uint8 (T, H, W) from scene amplitude (T, H, W) (linear, myocardium ~ 1)."""
    frames = amplitude.shape[0]
    nd, nb = sector.n_depth, sector.n_beams
    map_x, map_y = sector.polar_from_cart
    # cv2 filters a limited number of channels per call (sepFilter2D: 128 in OpenCV 5, 512 before), and
    # the speckle filter sees 2 channels (re, im) per frame: process the video in chunks of 64 frames.
    chunks = [slice(i, i + FRAMES_PER_CV2_CALL) for i in range(0, frames, FRAMES_PER_CV2_CALL)]
    beam_amp = np.concatenate(
        [cv2.remap(_stack_channels(amplitude[c]), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
         .reshape(nd, nb, -1) for c in chunks], axis=-1)  # (nd, nb, T)

    # Rib shadow: a wedge of beams loses signal beyond some depth.
    if rng.random() < preset.shadow_prob:
        centre, width = rng.uniform(0.1, 0.9) * nb, rng.uniform(0.06, 0.15) * nb
        beams = np.exp(-0.5 * ((np.arange(nb) - centre) / width) ** 4)
        start = rng.uniform(0.2, 0.6) * nd
        depth_ramp = 1 / (1 + np.exp(-(np.arange(nd) - start) / 3))
        loss_db = rng.uniform(8, 18)
        beam_amp *= (10 ** (-loss_db / 20 * depth_ramp[:, None] * beams[None, :]))[..., None].astype(np.float32)

    # Scatterers: complex Gaussian, AR(1) in time so speckle partly decorrelates frame to frame.
    rho = rng.uniform(*preset.decorrelation)
    fresh = rng.standard_normal((frames, nd, nb, 2), dtype=np.float32)
    scatter = np.empty_like(fresh)
    scatter[0] = fresh[0]
    keep, renew = np.float32(rho), np.float32(math.sqrt(1 - rho * rho))
    for t in range(1, frames):
        scatter[t] = keep * scatter[t - 1] + renew * fresh[t]
    sigma_depth, sigma_beam = rng.uniform(*preset.psf_depth) * nd / 145, rng.uniform(*preset.psf_beam) * nb / 112
    kd = cv2.getGaussianKernel(2 * math.ceil(3 * sigma_depth) + 1, sigma_depth)
    kb = cv2.getGaussianKernel(2 * math.ceil(3 * sigma_beam) + 1, sigma_beam)
    norm = np.float32(1.0 / math.sqrt(float((kd**2).sum() * (kb**2).sum())))
    weighted = scatter * np.moveaxis(beam_amp, -1, 0)[..., None]  # (T, nd, nb, 2)
    weighted = np.ascontiguousarray(np.moveaxis(weighted, 0, 2).reshape(nd, nb, frames * 2))
    rf = np.concatenate([cv2.sepFilter2D(weighted[..., c.start * 2 : c.stop * 2], -1, kb, kd).reshape(nd, nb, -1)
                         for c in chunks], axis=-1).reshape(nd, nb, frames, 2) * norm

    # Thermal noise enters before the gain, so after time-gain compensation it grows with depth.
    depth_frac = (sector.depth_of_row / sector.depth_mm).astype(np.float32)
    jitter = preset.noise_jitter_db
    noise_amp = 10 ** ((preset.noise_db + rng.uniform(-jitter, jitter) - 12 * (1 - depth_frac)) / 20)
    # The scatterers' own innovations, moved a third of the grid away, serve as white thermal noise:
    # independent of the scatterers at each sample and free (drawing normals dominates the run time).
    thermal = np.roll(fresh, shift=(nd // 3, nb // 3), axis=(1, 2))
    rf += np.moveaxis(thermal, 0, 2) * noise_amp[:, None, None, None].astype(np.float32)
    envelope = np.sqrt(rf[..., 0] ** 2 + rf[..., 1] ** 2)
    mean_amp = np.concatenate([cv2.sepFilter2D(np.ascontiguousarray(beam_amp[..., c]), -1, kb, kd).reshape(nd, nb, -1)
                               for c in chunks], axis=-1) + noise_amp[:, None, None]
    tiny = np.float32(1e-6)
    level_db = 20 * np.log10(mean_amp + tiny)
    speckle_db = 20 * np.log10(envelope + tiny) - level_db
    echo_db = level_db + preset.speckle * speckle_db  # (nd, nb, T)

    # Residual attenuation after TGC, a wavy gain profile, weaker beams at the fan edges, global gain.
    ripple = preset.tgc_ripple_db
    gain = (rng.uniform(*preset.depth_gain_db) * depth_frac + rng.uniform(-ripple, ripple) * np.sin(
        2 * math.pi * (depth_frac * rng.uniform(0.5, 1.5) + rng.uniform(0, 1))))[:, None]
    beam_pos = np.linspace(-1, 1, nb)[None, :]
    gain = gain - rng.uniform(*preset.edge_loss_db) * beam_pos**4 + rng.uniform(*preset.gain_db)
    echo_db += gain[..., None].astype(np.float32)
    dynamic_range = rng.uniform(*preset.dynamic_range_db)
    top = rng.uniform(*preset.top_db)
    gamma = rng.uniform(*preset.gamma)
    display = np.clip((echo_db - (top - dynamic_range)) / dynamic_range, 0, 1) ** gamma  # (nd, nb, T)

    map_x, map_y = sector.cart_from_polar
    image = np.concatenate([cv2.remap(np.ascontiguousarray(display[..., c]), map_x, map_y, cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(*sector.shape, -1)
                            for c in chunks], axis=-1)
    image = np.moveaxis(image, -1, 0) * sector.edge_fade[None]
    video = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    _annotation_marks(video, sector, rng)
    return video


def _annotation_marks(video: np.ndarray, sector: Sector, rng: np.random.Generator) -> None:
    """Small static marks near the fan's edge, as scanners burn in: depth dots and an orientation mark."""
    h, w = sector.shape
    dy, dx = sector.spacing
    size_scale = max(1, round(w / 112))
    if rng.random() < 0.85:
        step_mm = 50.0 if sector.depth_mm > 120 else 20.0
        side = math.sin(sector.half_angle + sector.tilt), math.cos(sector.half_angle + sector.tilt)
        for depth in np.arange(step_mm, sector.depth_mm, step_mm):
            x = sector.origin_px[0] + depth * side[0] / dx + 2 * size_scale
            y = sector.origin_px[1] + depth * side[1] / dy
            col, row = int(round(x)), int(round(y))
            if 0 <= row < h and 0 <= col < w - size_scale:
                video[:, row : row + size_scale, col : col + size_scale] = rng.integers(170, 256)
    if rng.random() < 0.7:
        col = int(round(sector.origin_px[0] + rng.uniform(0.12, 0.2) * w))
        row = max(int(round(sector.origin_px[1] + 2 * size_scale)), 0)
        value = int(rng.integers(150, 256))
        for i in range(2 * size_scale):
            video[:, row + i, col - i : col + i + 1] = value  # a small triangle pointing up


def colour_marks(sector: Sector, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Static coloured overlay outside the fan, as scanners burn in: a coloured orientation dot by the
    fan's apex and, in some videos, a short coloured remnant of the ECG trace near the bottom.

    Returns (mask bool (H, W), colour uint8 (H, W, 3) BGR). The grey video carries their luminance;
    the EchoNet writer paints the colours into the AVI (real files' channels differ most there).
    """
    h, w = sector.shape
    scale = max(1, round(w / 112))
    mask = np.zeros((h, w), bool)
    colour = np.zeros((h, w, 3), np.uint8)

    def paint(rows: slice, cols: slice) -> None:
        grey = rng.uniform(90, 200)
        chroma = rng.uniform(5, 30) * np.array([1.0, -1.0, rng.choice([-1.0, 1.0])])  # channel offsets around the grey
        bgr = np.clip(grey + chroma - chroma.mean(), 0, 255)
        where = np.zeros((h, w), bool)
        where[rows, cols] = True
        where &= ~sector.inside  # overlays sit outside the fan
        mask[where] = True
        colour[where] = bgr.astype(np.uint8)

    side = 1 if rng.random() < 0.5 else -1
    col = int(round(sector.origin_px[0] + side * rng.uniform(0.14, 0.22) * w))
    row = max(int(round(sector.origin_px[1] + rng.uniform(2, 5) * scale)), 0)
    paint(slice(row, row + 3 * scale), slice(col, col + 3 * scale))
    if rng.random() < 0.5:
        row = int(round(h - rng.uniform(3, 8) * scale))
        start = int(round(rng.uniform(0.02, 0.2) * w))
        paint(slice(row, row + 2 * scale), slice(start, start + int(rng.integers(6, 16)) * scale))
    return mask, colour
