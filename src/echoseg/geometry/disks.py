"""Method-of-disks geometry shared by the synthetic generator, the EchoNet tracing writer, EF and predict.

Points are (x, y) = (column, row) in pixel coordinates, as in EchoNet's VolumeTracings.csv.
Spacing is (dy, dx) in mm, as everywhere in echoseg. All lengths are measured in physical space
(mm when spacing is given, else pixels), so anisotropic pixels are handled exactly: perpendiculars
are perpendicular in millimetres, not in pixel indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from echoseg.geometry.masks import clean_mask

N_DISKS = 20


@dataclass
class DiskGeometry:
    """Long axis and disk chords of one LV mask.

    apex, base_mid: (x, y) in pixels. chords: (n, 2, 2) endpoints [(x1, y1), (x2, y2)] in pixels,
    ordered from apex to base. length and diameters are physical (mm, or px without spacing).
    """

    apex: np.ndarray
    base_mid: np.ndarray
    chords: np.ndarray
    length: float
    diameters: np.ndarray


def _scale(spacing_mm: tuple[float, float] | None) -> np.ndarray:
    """(x, y) multipliers from pixel to physical units."""
    if spacing_mm is None:
        return np.ones(2)
    dy, dx = spacing_mm
    return np.array([dx, dy], dtype=float)


def long_axis(mask: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apex and mitral-base midpoint of an LV mask, (x, y) pixels each.

    The principal axis of the cavity gives its two ends; the wider end is the mitral base (the LV is
    bullet-shaped), its midpoint is halfway between the base's two corners, and the apex is the
    cavity point farthest from that midpoint (as in the CAMUS reference).
    """
    mask = clean_mask(mask)
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        raise ValueError("mask has fewer than 3 pixels: no long axis")
    scale = _scale(spacing_mm)
    pts = np.stack([xs, ys], axis=1).astype(float) * scale
    centred = pts - pts.mean(axis=0)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    u = vecs[:, -1]
    v = np.array([-u[1], u[0]])
    along = centred @ u
    across = centred @ v
    lo, hi = along.min(), along.max()
    span = max(hi - lo, 1e-6)
    # Width of the cavity near each end decides which end is the base.
    near_lo = along < lo + 0.2 * span
    near_hi = along > hi - 0.2 * span
    width_lo = np.ptp(across[near_lo]) if near_lo.any() else 0.0
    width_hi = np.ptp(across[near_hi]) if near_hi.any() else 0.0
    band = max(0.04 * span, 1.5 * float(scale.max()))
    in_band = (along < lo + band) if width_lo > width_hi else (along > hi - band)
    band_across = across[in_band]
    # Across the axis, the base midpoint is halfway between the base's two corners. Along the axis it
    # sits at the cavity's end: the corners themselves can be anywhere within the band on a tilted,
    # rasterised base (their widths differ by less than a pixel), which would shorten the axis.
    mid_across = (band_across.min() + band_across.max()) / 2
    end_along = lo if width_lo > width_hi else hi
    base_mid = pts.mean(axis=0) + u * end_along + v * mid_across
    apex = pts[np.argmax(np.linalg.norm(pts - base_mid, axis=1))]
    return apex / scale, base_mid / scale


def disk_chords(
    mask: np.ndarray,
    apex: np.ndarray,
    base_mid: np.ndarray,
    spacing_mm: tuple[float, float] | None = None,
    n_disks: int = N_DISKS,
    fractions: np.ndarray | None = None,
) -> DiskGeometry:
    """Chords perpendicular to the apex-base axis, walked outwards from the axis until the mask ends.

    `fractions` are the chord positions along the axis measured from the apex (0) to the base (1);
    the default puts them at the disk centres (i + 0.5) / n, which is what the volume formula needs.
    """
    mask = np.asarray(mask, dtype=bool)
    scale = _scale(spacing_mm)
    a = np.asarray(apex, float) * scale
    b = np.asarray(base_mid, float) * scale
    axis = b - a
    length = float(np.linalg.norm(axis))
    if length == 0:
        raise ValueError("apex and base coincide: no long axis")
    u = axis / length
    v = np.array([-u[1], u[0]])
    if fractions is None:
        fractions = (np.arange(n_disks) + 0.5) / n_disks
    step = 0.1 * float(scale.min())
    # No chord is longer than the mask's bounding-box diagonal: walk no further than that.
    ys, xs = np.nonzero(mask)
    extent = (np.array([np.ptp(xs), np.ptp(ys)]) + 2) * scale if len(xs) else scale
    ts = np.arange(0.0, float(np.hypot(*extent)) + step, step)
    centres = a[None, :] + u[None, :] * length * np.asarray(fractions, float)[:, None]  # (n, 2)
    # Both half-chords of every disk in one vectorised walk: rays (2n, 2) from the axis outwards.
    starts = np.concatenate([centres, centres])
    directions = np.concatenate([np.tile(v, (len(centres), 1)), np.tile(-v, (len(centres), 1))])
    runs = _run_lengths(mask, starts, directions, ts, scale)
    ends = starts + directions * runs[:, None]
    n = len(centres)
    chords = np.stack([ends[:n], ends[n:]], axis=1) / scale[None, None, :]
    diameters = runs[:n] + runs[n:]
    return DiskGeometry(apex=a / scale, base_mid=b / scale, chords=chords, length=length, diameters=diameters)


def _run_lengths(mask: np.ndarray, starts: np.ndarray, directions: np.ndarray, ts: np.ndarray,
                 scale: np.ndarray) -> np.ndarray:
    """Distance from each start (physical) along its direction while still inside the mask (0 if it starts outside).

    starts, directions: (R, 2) physical (x, y); ts: (S,) sample distances. Returns (R,).
    """
    pts = (starts[:, None, :] + ts[None, :, None] * directions[:, None, :]) / scale  # (R, S, 2) pixels
    cols = np.rint(pts[..., 0]).astype(int)
    rows = np.rint(pts[..., 1]).astype(int)
    in_bounds = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    inside = in_bounds & mask[np.clip(rows, 0, mask.shape[0] - 1), np.clip(cols, 0, mask.shape[1] - 1)]
    first_out = np.where(inside.all(axis=1), len(ts), np.argmin(inside, axis=1))
    # The boundary lies halfway between the last inside sample and the first outside one.
    half_step = 0.5 * (ts[1] - ts[0])
    return np.where(first_out == 0, 0.0, ts[np.maximum(first_out - 1, 0)] + half_step)


def volume_from_diameters(diameters: np.ndarray, length: float) -> float:
    """Monoplane method of disks: V = pi/4 * sum(d_i^2) * L / n."""
    diameters = np.asarray(diameters, float)
    return float(math.pi / 4 * np.sum(diameters**2) * length / len(diameters))


def monoplane_volume(mask: np.ndarray, spacing_mm: tuple[float, float] | None = None, n_disks: int = N_DISKS) -> float:
    """LV volume of one view by the method of disks: ml when spacing (mm) is given, else cubic pixels."""
    mask = clean_mask(mask)
    if mask.sum() < 3:
        return 0.0
    apex, base = long_axis(mask, spacing_mm)
    geom = disk_chords(mask, apex, base, spacing_mm, n_disks)
    volume = volume_from_diameters(geom.diameters, geom.length)
    return volume / 1000.0 if spacing_mm is not None else volume


def ejection_fraction(edv: float, esv: float) -> float:
    """EF in percent; NaN when EDV is not positive."""
    return float(100.0 * (edv - esv) / edv) if edv > 0 else float("nan")
