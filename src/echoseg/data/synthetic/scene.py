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
    _apical_haze(amplitude, frames, shape, sector, preset, rng)
    return amplitude


def _apical_haze(amplitude: np.ndarray, frames: HeartFrames, shape: HeartShape, sector: Sector,
                 preset: ImagingPreset, rng: np.random.Generator) -> None:
    """Near-field clutter added in place (with the preset's probability): haze over the apex, the
    commonest reason apical boundaries are hard to see."""
    if rng.random() < preset.haze_prob:
        centre = sector.to_px(frames.apex[0] + frames.axis[0] * 0.15 * shape.length)
        radius = rng.uniform(0.15, 0.3) * shape.length / sector.spacing[1]
        haze = 10 ** ((preset.haze_db + rng.uniform(-3, 3)) / 20)
        amplitude += np.float32(haze) * _blob(sector.shape, centre, radius)[None]


def _blob(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    d2 = (cols - centre[0]) ** 2 + (rows - centre[1]) ** 2
    return np.exp(-0.5 * d2 / max(radius, 1.0) ** 2).astype(np.float32)


# Revision of the realistic picture: bump it whenever a change here alters what the realistic preset
# draws. The synthetic-pretrained model's recipe records it, so a stale shipped model fails its test.
REALISTIC_REVISION = 3

# Echogenicity of the realistic scene, dB relative to the myocardium; each video draws every level
# uniformly from its range. Real apical views: the septum, the fibrous annuli, the valves and the
# pericardium are the brightest structures; the free walls are mid-grey; the blood is dark.
REALISTIC_LEVELS_DB = {
    "blood": (-36.0, -20.0),
    "tissue": (-10.0, -3.0),  # outside the heart (fat, liver, lung, chest wall)
    "septum": (5.0, 9.0),  # thick, scattered from both sides
    "rv_wall": (-3.0, 1.0),
    "atrial_wall": (-6.0, -2.0),
    "pericardium": (21.0, 27.0),
    "annulus": (20.0, 26.0),  # fibrous mitral and tricuspid rings
    "valve": (4.0, 9.0),
    "papillary": (-6.0, 0.0),
    "chordae": (-16.0, -8.0),  # strings from the papillary muscle to the mitral leaflet tips
    "blood_clutter": (3.0, 9.0),  # amplitude (dB) of slow-flow clutter / spontaneous contrast in the blood
    "wall_loss": (-30.0, -18.0),  # signal lost by the LV wall where the patchiness field is 1
    "wall_floor": (4.0, 10.0),  # the least a wall keeps above the blood however much it loses
    "near_field": (0.0, 6.0),  # chest-wall clutter and reverberation at the top of the fan
    "specular": (-6.0, 2.0),  # reflection from a blood-myocardium interface met head-on by the beam
}
PERICARDIUM_FADE_DB = (6.0, -6.0, -14.0)  # basal, mid and apical thirds of the pericardium line
WALL_LOSS_PATCHES = (1.0, 1.0)  # patchiness = clip(a + b * smooth unit field, 0, 1) over the frame
# Fraction of the patchy loss the septum takes (real A4C: the best-seen wall), drawn per video from this range;
# (0, 0) draws nothing, so the picture and random stream stay revision 3's.
SEPTAL_LOSS = (0.0, 0.0)
SEPTUM_FROM = 0.35  # the bright septum starts this fraction of the contour samples away from the apex
SPECULAR_SLOPE_REF = 15.0  # dB per pixel: the 5x5 Sobel estimate at a sharp 40 dB interface


def realistic_echogenicity(frames: HeartFrames, shape: HeartShape, sector: Sector, preset: ImagingPreset,
                           rng: np.random.Generator) -> np.ndarray:
    """Linear scatter amplitude float32 (T, H, W) of the realistic preset.

    Diffuse scattering per structure (levels above), patchy signal loss of the LV's free walls and apex
    (a static patchiness field: where it is high the border is barely brighter than the blood; visible
    edges stay at the true border), wall dropout where the beam runs along the wall, and specular reflection: the derivative of the
    scene along the beam, so interfaces the beam meets head-on (apex cap, annulus plane, closed
    leaflets, pericardium) are bright and those it grazes (the free walls) are not.
    """
    t = frames.lv.shape[0]
    h, w = sector.shape
    line = max(1, round(w / 112))
    level = {name: float(rng.uniform(*bounds)) for name, bounds in REALISTIC_LEVELS_DB.items()}
    scene, band, septal = _draw_anatomy(frames, shape, sector, level, line, rng)
    n = N_SIDE

    # Specular reflection from the macroscopic interfaces (before texture and the wall's signal loss).
    specular = _specular(scene, sector)
    # Patchy wall dropout: where the static patchiness is high the free walls and apex lose their signal over
    # their whole thickness, so the border is barely brighter than the blood for a stretch; no visible edge is
    # ever displaced from the truth, only faint. The loss stops `wall_floor` dB above the blood (myocardium
    # always scatters more than blood) and spares the septum: lost down to the blood's level, a thin ED wall
    # and a thick ES wall looked alike and networks guessed a typical cavity (EF biased low; issue 10,
    # benchmarks/bench_ef_bias.py).
    patches = np.clip(WALL_LOSS_PATCHES[0] + WALL_LOSS_PATCHES[1] * smooth_field(rng, (h, w), sigma=w / 30), 0.0, 1.0)
    floor = np.float32(level["blood"] + level["wall_floor"])
    septal_loss = rng.uniform(*SEPTAL_LOSS) if SEPTAL_LOSS[1] > 0 else 0.0
    lost = np.maximum(scene + level["wall_loss"] * patches[None] * (1 - (1 - septal_loss) * septal),
                      np.minimum(scene, floor))
    scene = np.where(band > 0, lost, scene)
    # Texture: broad echogenicity variation, stronger outside the heart (fat, lung, liver); clutter in the blood.
    outside = (scene == np.float32(level["tissue"])).astype(np.float32)
    blood = (scene == np.float32(level["blood"])).astype(np.float32)
    scene += level["blood_clutter"] * blood * smooth_field(rng, (h, w), sigma=w / 40)[None]
    scene += preset.texture_db * smooth_field(rng, (h, w), sigma=w / 14)[None]
    scene += 2.0 * preset.texture_db * outside * smooth_field(rng, (h, w), sigma=w / 25)[None]
    radius_mm = _radius_mm(sector)
    near = rng.uniform(12.0, 28.0)
    scene += (level["near_field"] * np.exp(-0.5 * (radius_mm / near) ** 2))[None].astype(np.float32)
    # The transmit focus sits near the valves: above it the beam is wide and specular echoes weaker.
    specular *= (np.clip(radius_mm / rng.uniform(60.0, 90.0), 0.25, 1.0) ** 2)[None].astype(np.float32)
    for i in range(t):
        cv2.GaussianBlur(scene[i], (0, 0), 0.6 * line, dst=scene[i])
    # Dropout: wall regions that fade where the beam runs along them (static: they belong to the probe).
    loss_db = np.zeros((h, w), np.float32)
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        index = int(rng.integers(n // 4, 3 * n // 2))  # lateral wall, apex or apical septum
        centre = sector.to_px(frames.epi[0, index])
        radius = rng.uniform(0.1, 0.22) * shape.length / sector.spacing[1]
        loss_db += rng.uniform(*preset.dropout_db) * _blob((h, w), centre, radius)
    amplitude = np.power(np.float32(10.0), (scene - loss_db[None]) / np.float32(20.0))
    amplitude += np.float32(10 ** (level["specular"] / 20)) * specular * np.power(10.0, -loss_db / 20)[None]
    _apical_haze(amplitude, frames, shape, sector, preset, rng)
    return amplitude


def _draw_anatomy(frames: HeartFrames, shape: HeartShape, sector: Sector, level: dict[str, float], line: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scene dB, LV wall band, septum mask), each float32 (T, H, W): every structure drawn at its
    level on every frame, before specular reflection, signal loss and texture."""
    t = frames.lv.shape[0]
    h, w = sector.shape
    scene = np.full((t, h, w), level["tissue"], np.float32)
    band = np.zeros((t, h, w), np.float32)  # the LV wall, 1 where it lies
    septal = np.zeros((t, h, w), np.float32)  # the bright septum, 1 where it lies
    right = frames.rv is not None
    n = N_SIDE
    septal_start = int(round(SEPTUM_FROM * n))
    annulus_radius = int(round(rng.uniform(1.5, 2.8) / sector.spacing[1] * (1 << SHIFT)))
    papillary_radius = int(round(shape.half_width * 0.12 / sector.spacing[1] * (1 << SHIFT)))
    # Fixed-point vertices of every structure on every frame, converted once (the loop only draws).
    px = {name: _pts(sector, getattr(frames, name)) for name in ("pericardium", "la", "epi", "lv", "mitral", "papillary")}
    if right:
        px.update({name: _pts(sector, getattr(frames, name))
                   for name in ("rv_pericardium", "ra", "rv_outer", "rv", "tricuspid")})
    pieces = np.array_split(np.arange(frames.pericardium.shape[1]), 3)
    for i in range(t):
        img = scene[i]
        # Pericardium: brightest behind the basal lateral wall, fainter towards the apex (near field).
        for piece, offset in zip(pieces, PERICARDIUM_FADE_DB, strict=True):
            cv2.polylines(img, [px["pericardium"][i, piece[0] : piece[-1] + 2]], False, level["pericardium"] + offset,
                          2 * line, cv2.LINE_8, SHIFT)
        if right:
            cv2.polylines(img, [px["rv_pericardium"][i]], False, level["pericardium"] - 6, line, cv2.LINE_8, SHIFT)
        atria = (px["ra"][i], px["la"][i]) if right else (px["la"][i],)
        cv2.polylines(img, list(atria), True, level["atrial_wall"], 2 * line, cv2.LINE_8, SHIFT)
        if right:
            cv2.fillPoly(img, [px["rv_outer"][i]], level["rv_wall"], cv2.LINE_8, SHIFT)
        cv2.fillPoly(img, [px["epi"][i]], 0.0, cv2.LINE_8, SHIFT)
        lv = px["lv"][i]
        if right:  # septum: from the epicardial (RV) side to the endocardial side, mid-wall to the base
            septum = np.concatenate([px["epi"][i, n - 1 + septal_start : 2 * n - 1], lv[n : 2 * n - septal_start]])
            cv2.fillPoly(img, [septum], level["septum"], cv2.LINE_8, SHIFT)
            cv2.fillPoly(septal[i], [septum], 1.0, cv2.LINE_8, SHIFT)
        cavities = (px["rv"][i], px["ra"][i], px["la"][i], lv) if right else (px["la"][i], lv)
        for cavity in cavities:
            cv2.fillPoly(img, [cavity], level["blood"], cv2.LINE_8, SHIFT)
        # The LV wall (epicardium minus cavity), where patchy signal loss takes the border away.
        cv2.fillPoly(band[i], [px["epi"][i]], 1.0, cv2.LINE_8, SHIFT)
        cv2.fillPoly(band[i], [lv], 0.0, cv2.LINE_8, SHIFT)
        leaflets = [*px["mitral"][i], *px["tricuspid"][i]] if right else list(px["mitral"][i])
        cv2.polylines(img, leaflets, False, level["valve"], line, cv2.LINE_8, SHIFT)
        for leaflet in leaflets:  # the fibrous annulus at each leaflet's hinge
            cv2.circle(img, (int(leaflet[0, 0]), int(leaflet[0, 1])), annulus_radius, level["annulus"], -1, cv2.LINE_8,
                       SHIFT)
        centre = (int(px["papillary"][i, 0]), int(px["papillary"][i, 1]))
        chordae = [np.array([px["papillary"][i], tip], np.int32) for tip in px["mitral"][i, :, 1]]
        cv2.polylines(img, chordae, False, level["chordae"], line, cv2.LINE_8, SHIFT)
        cv2.circle(img, centre, papillary_radius, level["papillary"], -1, cv2.LINE_8, SHIFT)

    return scene, band, septal


def _radius_mm(sector: Sector) -> np.ndarray:
    """(H, W) distance of each pixel centre from the transducer, mm."""
    h, w = sector.shape
    rows, cols = np.mgrid[0:h, 0:w]
    dy, dx = sector.spacing
    return np.hypot((cols - sector.origin_px[0]) * dx, (rows - sector.origin_px[1]) * dy)


def _specular(scene_db: np.ndarray, sector: Sector) -> np.ndarray:
    """(T, H, W) relative strength of specular reflection: (|d scene / d range| along the beam through
    each pixel)^2, 1 for a blood-myocardium interface met head-on, near 0 where the beam grazes it."""
    h, w = sector.shape
    rows, cols = np.mgrid[0:h, 0:w]
    dy, dx = sector.spacing
    x, y = (cols - sector.origin_px[0]) * dx, (rows - sector.origin_px[1]) * dy
    r = np.maximum(np.hypot(x, y), 1e-6)
    # Unit beam direction in pixel steps (anisotropic spacing: a step of one pixel is dx or dy mm).
    step = min(dx, dy)
    ux, uy = (x / r * step / dx).astype(np.float32), (y / r * step / dy).astype(np.float32)
    out = np.empty_like(scene_db)
    for start in range(0, scene_db.shape[0], 64):
        chunk = np.ascontiguousarray(np.moveaxis(scene_db[start : start + 64], 0, -1))
        gx = cv2.Sobel(chunk, cv2.CV_32F, 1, 0, ksize=5, scale=1 / 128).reshape(h, w, -1)
        gy = cv2.Sobel(chunk, cv2.CV_32F, 0, 1, ksize=5, scale=1 / 128).reshape(h, w, -1)
        slope = np.abs(gx * ux[..., None] + gy * uy[..., None])
        # Squared: specular echoes fall off fast as the beam leaves the interface's normal.
        out[start : start + 64] = np.moveaxis(np.minimum(slope / SPECULAR_SLOPE_REF, 1.5) ** 2, -1, 0)
    return out
