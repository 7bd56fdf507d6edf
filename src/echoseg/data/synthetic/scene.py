"""Rasterise the heart contours: echogenicity (what the scanner sees) and truth labels (what a tracer marks).

Both are drawn on the output pixel grid with cv2 polygons at 1/16-pixel vertex precision. The truth
labels are CAMUS's: 0 background, 1 LV cavity, 2 LV myocardium, 3 left atrium. Valves and papillary
muscles are drawn into the echogenicity inside the cavity but stay part of the cavity label, as tracers
include them.
"""

from __future__ import annotations

import cv2
import numpy as np

from echoseg.data.synthetic.geometry import N_SIDE, HeartFrames, HeartShape
from echoseg.data.synthetic.imaging import ImagingPreset, Sector, smooth_field

SHIFT = 4  # cv2 fixed-point bits: vertices at 1/16 pixel
LV_CAVITY, LV_MYOCARDIUM, LEFT_ATRIUM = 1, 2, 3


def _pts(sector: Sector, polygon_mm: np.ndarray, scale: int = 1) -> np.ndarray:
    """Fixed-point cv2 vertices; with `scale` > 1, on a grid `scale` times finer whose sub-pixels
    straddle each pixel centre (pixel x spans sub-pixels scale*x .. scale*x + scale - 1)."""
    px = sector.to_px(polygon_mm) * scale + (scale - 1) / 2
    return np.round(px * (1 << SHIFT)).astype(np.int32)


TRUTH_SUPERSAMPLE = 4


def truth_labels(frames: HeartFrames, sector: Sector) -> np.ndarray:
    """uint8 (T, H, W): 1 LV cavity, 2 LV myocardium, 3 left atrium, 0 elsewhere.

    A pixel takes the label of the point next to its centre (1/8 pixel off), found on a 4x finer
    raster: cv2 fills every pixel an edge touches, which at full resolution would make each region
    half a pixel too wide all round (about 4% of an LV's area at 112 px, and 1 EF point).
    """
    t = frames.lv.shape[0]
    h, w = sector.shape
    k = TRUTH_SUPERSAMPLE
    labels = np.zeros((t, h, w), np.uint8)
    fine = np.zeros((h * k, w * k), np.uint8)
    for i in range(t):
        fine[:] = 0
        cv2.fillPoly(fine, [_pts(sector, frames.epi[i], k)], LV_MYOCARDIUM, cv2.LINE_8, SHIFT)
        cv2.fillPoly(fine, [_pts(sector, frames.la[i], k)], LEFT_ATRIUM, cv2.LINE_8, SHIFT)
        cv2.fillPoly(fine, [_pts(sector, frames.lv[i], k)], LV_CAVITY, cv2.LINE_8, SHIFT)
        labels[i] = fine[k // 2 :: k, k // 2 :: k]
    return labels


def echogenicity(frames: HeartFrames, shape: HeartShape, sector: Sector, preset: ImagingPreset,
                 rng: np.random.Generator) -> np.ndarray:
    """Linear scatter amplitude float32 (T, H, W), myocardium ~ 1, blood ~ 10^(blood_db / 20)."""
    t = frames.lv.shape[0]
    h, w = sector.shape
    line = max(1, round(w / 112))
    blood = preset.blood_db + rng.uniform(-3, 3)
    tissue = preset.tissue_db + rng.uniform(-3, 3)
    levels = {
        "pericardium": rng.uniform(2, 6), "rv_wall": rng.uniform(-5, -1), "atrial_wall": rng.uniform(-9, -5),
        "septum": rng.uniform(-1, 1), "valve": rng.uniform(-6, -2), "papillary": -24 + 12 * shape.papillary,
    }
    scene = np.full((t, h, w), tissue, np.float32)
    right = frames.rv is not None  # four-chamber view: right heart present
    for i in range(t):
        img = scene[i]
        cv2.polylines(img, [_pts(sector, frames.pericardium[i])], False, levels["pericardium"], 2 * line, cv2.LINE_8, SHIFT)
        if right:
            cv2.polylines(img, [_pts(sector, frames.rv_pericardium[i])], False, levels["pericardium"] - 3, line,
                          cv2.LINE_8, SHIFT)
        atria = (frames.ra[i], frames.la[i]) if right else (frames.la[i],)
        for atrium in atria:
            cv2.polylines(img, [_pts(sector, atrium)], True, levels["atrial_wall"], 3 * line, cv2.LINE_8, SHIFT)
        if right:
            cv2.fillPoly(img, [_pts(sector, frames.rv_outer[i])], levels["rv_wall"], cv2.LINE_8, SHIFT)
        cv2.fillPoly(img, [_pts(sector, frames.epi[i])], levels["septum"], cv2.LINE_8, SHIFT)
        cavities = (frames.rv[i], frames.ra[i], frames.la[i], frames.lv[i]) if right else (frames.la[i], frames.lv[i])
        for cavity in cavities:
            cv2.fillPoly(img, [_pts(sector, cavity)], blood, cv2.LINE_8, SHIFT)
        leaflets = (*frames.mitral[i], *frames.tricuspid[i]) if right else tuple(frames.mitral[i])
        for leaflet in leaflets:
            cv2.polylines(img, [_pts(sector, leaflet)], False, levels["valve"], line, cv2.LINE_8, SHIFT)
        centre = tuple(int(v) for v in _pts(sector, frames.papillary[i]))
        radius = int(round(shape.half_width * 0.12 / sector.spacing[1] * (1 << SHIFT)))
        cv2.circle(img, centre, radius, levels["papillary"], -1, cv2.LINE_8, SHIFT)

    # Static spatial variation of echogenicity (tissue texture, fibre orientation, beam pattern), stronger
    # outside the heart (fat, lung, chest wall) than in the myocardium.
    outside = (scene == np.float32(tissue)).astype(np.float32)
    scene += preset.texture_db * smooth_field(rng, (h, w), sigma=w / 14)[None]
    scene += 3.0 * preset.texture_db * outside * smooth_field(rng, (h, w), sigma=w / 25)[None]
    # Soften edges: boundaries are never sharper than the resolution cell.
    for i in range(t):
        cv2.GaussianBlur(scene[i], (0, 0), 0.6 * line, dst=scene[i])
    # Lateral wall or apex fading where the beam runs along it (static: it belongs to the probe).
    if rng.random() < preset.dropout_prob:
        index = int(rng.choice([N_SIDE // 3, N_SIDE // 2, N_SIDE - 1, 3 * N_SIDE // 2]))
        centre = sector.to_px(frames.epi[0, index])
        radius = rng.uniform(0.12, 0.25) * shape.length / sector.spacing[1]
        scene -= rng.uniform(*preset.dropout_db) * _blob((h, w), centre, radius)[None]
    amplitude = np.power(np.float32(10.0), scene / np.float32(20.0))
    # Near-field clutter: haze over the apex, the commonest reason apical boundaries are hard to see.
    if rng.random() < preset.haze_prob:
        centre = sector.to_px(frames.apex[0] + frames.axis[0] * 0.15 * shape.length)
        radius = rng.uniform(0.15, 0.3) * shape.length / sector.spacing[1]
        haze = 10 ** ((preset.haze_db + rng.uniform(-3, 3)) / 20)
        amplitude += np.float32(haze) * _blob((h, w), centre, radius)[None]
    return amplitude


def _blob(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    d2 = (cols - centre[0]) ** 2 + (rows - centre[1]) ** 2
    return np.exp(-0.5 * d2 / max(radius, 1.0) ** 2).astype(np.float32)
