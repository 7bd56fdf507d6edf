"""Synthetic "scanner exports": a generated echo video placed on a wide canvas the way a scanner or a
PACS exports it, with the fan, LV truth and spacing known exactly.

`render_export(video, seed)` takes the generator's square video (`generate_video`), cuts its own
known sector out of it (narrower than the generator's fan, so every pixel of it is image), scales it
onto a canvas of 640-1024 px (or a size given) at an off-centre position, and draws what real
exports carry around the fan: burned-in text (static, plus a running clock that changes every frame),
a depth scale with centimetre ticks, a grey-level and a colour bar, an orientation marker and an ECG
trace that sweeps across the bottom. The LV masks and the sector come along in canvas pixels, and
the spacing is the generator's divided by the scale, so detection, cropping and the mapping back to
the original frame can all be checked against truth.

`clean_video` is the generator's square video blanked outside the same sector: what a model trained on
EchoNet-style frames would see if the export were cropped perfectly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from echoseg.data.sector import FanGeometry
from echoseg.data.synthetic.generator import SyntheticVideo

CANVASES = ((480, 640), (600, 800), (708, 1016), (768, 1024), (720, 960))
GREEN, YELLOW, WHITE, CYAN = (40, 220, 60), (235, 220, 60), (235, 235, 235), (80, 200, 230)


@dataclass
class ScannerExport:
    """One exported cine.

    rgb: uint8 (T, H, W, 3) canvas frames (the ultrasound is grey, the graphics coloured).
    masks: bool (T, H, W) LV cavity on every frame, canvas pixels.
    fan: the sector in canvas pixels (source "truth"); region: (x0, y0, x1, y1) the image area a scanner
         writes into SequenceOfUltrasoundRegions (the sector's box plus a small margin).
    spacing_mm: (dy, dx) of a canvas pixel. fps: frame rate.
    clean_video: uint8 (T, S, S) the generator's video blanked outside `clean_fan` (its own grid).
    clean_masks: bool (T, S, S) the generator's masks inside `clean_fan`.
    placement: scale (canvas px per generator px) and offset (canvas x, y of the generator grid's
               top-left corner): canvas = scale * (generator + 0.5) - 0.5 + offset.
    """

    rgb: np.ndarray
    masks: np.ndarray
    fan: FanGeometry
    region: tuple[int, int, int, int]
    spacing_mm: tuple[float, float]
    fps: float
    clean_video: np.ndarray
    clean_masks: np.ndarray
    clean_fan: FanGeometry
    case_id: str
    placement: dict = field(default_factory=dict)

    @property
    def gray(self) -> np.ndarray:
        """uint8 (T, H, W), converted as the readers convert colour frames."""
        return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in self.rgb])


def render_export(video: SyntheticVideo, seed: int, *, canvas: tuple[int, int] | None = None,
                  fan_height: float | None = None, overlays: bool = True) -> ScannerExport:
    """Place `video` on a scanner-export canvas; layout deterministic by `seed`.

    canvas: (H, W), default drawn from CANVASES; fan_height: the placed image's height as a fraction of
    the canvas height (default 0.6-0.85); overlays: draw the text, scales, bars, marker and ECG.
    """
    rng = np.random.default_rng([seed, 15])
    s = video.sample
    t, size, _ = s.video.shape
    clean_fan = _export_sector(video, rng)
    inside = clean_fan.mask()
    clean_video = s.video * inside[None]
    clean_masks = np.stack([s.masks[i] for i in range(t)]) & inside[None]

    h, w = canvas if canvas is not None else CANVASES[int(rng.integers(len(CANVASES)))]
    placed = int(round(h * (fan_height if fan_height is not None else rng.uniform(0.6, 0.85))))
    placed = min(placed, int(0.7 * w))
    scale = placed / size
    ox = int(rng.integers(int(0.04 * w), max(int(0.04 * w) + 1, w - placed - int(0.14 * w))))
    oy = int(rng.integers(int(0.05 * h), max(int(0.05 * h) + 1, h - placed - int(0.12 * h))))
    ax, ay = clean_fan.apex
    fan = FanGeometry(
        shape=(h, w), apex=(scale * (ax + 0.5) - 0.5 + ox, scale * (ay + 0.5) - 0.5 + oy), angles=clean_fan.angles,
        radii=(0.0, clean_fan.radii[1] * scale),
        box=(max(ox, 0), max(oy, 0), min(ox + placed, w), min(oy + placed, h)), source="truth")
    fan_mask = fan.mask()

    grey = np.zeros((t, h, w), np.uint8)
    grey[:, oy:oy + placed, ox:ox + placed] = _resize_frames(clean_video, placed, cv2.INTER_LINEAR)
    grey *= fan_mask[None]
    masks = np.zeros((t, h, w), bool)
    masks[:, oy:oy + placed, ox:ox + placed] = _resize_frames(clean_masks.astype(np.float32), placed,
                                                               cv2.INTER_LINEAR) > 0.5
    masks &= fan_mask[None]

    spacing = (s.spacing_mm[0] / scale, s.spacing_mm[1] / scale)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if overlays:
        _draw_overlays(rgb, fan, fan_mask, spacing, s.fps, rng)
    x0, y0, x1, y1 = fan.bbox()
    margin = int(rng.integers(0, 6))
    region = (max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, w), min(y1 + margin, h))
    return ScannerExport(
        rgb=rgb, masks=masks, fan=fan, region=region, spacing_mm=spacing, fps=float(s.fps), clean_video=clean_video,
        clean_masks=clean_masks, clean_fan=clean_fan, case_id=s.case_id,
        placement={"scale": scale, "offset_xy": [ox, oy], "canvas_hw": [h, w]})


def _export_sector(video: SyntheticVideo, rng: np.random.Generator) -> FanGeometry:
    """A sector inside the generator's fan (apex at the top centre, half-angle 28-36 degrees, below the
    generator's 38-45), reaching 97-99% of its depth (so the square frame is framed as the generator and
    EchoNet frame theirs: the fan reaching down to about the bottom row), clipped by the frame where it
    leaves it."""
    size = video.sample.video.shape[1]
    depth_px = video.truth.params["depth_mm"] / video.sample.spacing_mm[0]
    half = math.radians(rng.uniform(28.0, 36.0))
    radius = min(depth_px, size + 0.5) * rng.uniform(0.97, 0.99)
    return FanGeometry(shape=(size, size), apex=((size - 1) / 2, -0.5), angles=(-half, half), radii=(0.0, radius),
                       box=(0, 0, size, size), source="truth")


def _resize_frames(frames: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    return np.stack([cv2.resize(f, (side, side), interpolation=interpolation) for f in frames])


# ----------------------------------------------------------------------------------------------
# What scanners draw around the image


def _draw_overlays(rgb: np.ndarray, fan: FanGeometry, fan_mask: np.ndarray, spacing: tuple[float, float], fps: float,
                   rng: np.random.Generator) -> None:
    """Text, depth scale, grey and colour bars, orientation marker (static) and the ECG sweep and a clock
    (changing every frame), drawn outside the sector only."""
    t, h, w, _ = rgb.shape
    static = np.zeros((h, w, 3), np.uint8)
    unit = h / 600.0
    font = cv2.FONT_HERSHEY_SIMPLEX
    x0, y0, x1, y1 = fan.bbox()
    depth_cm = (y1 - y0) * spacing[0] / 10
    lines_left = ["ECHOSEG SYNTH", f"ID {int(rng.integers(10**6, 10**7))}", "Adult Echo  S5-1",
                  f"{depth_cm:.0f} cm  {fps:.0f} Hz", f"MI {rng.uniform(0.6, 1.4):.1f}  TIS {rng.uniform(0.2, 1.0):.1f}"]
    for i, line in enumerate(lines_left):
        cv2.putText(static, line, (int(8 * unit), int((22 + 20 * i) * unit)), font, 0.5 * unit,
                    WHITE if i else YELLOW, max(1, int(round(unit))), cv2.LINE_AA)
    lines_right = ["2D", f"{int(rng.integers(40, 80))}%", f"C {int(rng.integers(40, 60))}", "P Low", "HGen"]
    for i, line in enumerate(lines_right):
        cv2.putText(static, line, (int(w - 70 * unit), int((22 + 20 * i) * unit)), font, 0.45 * unit, WHITE,
                    max(1, int(round(unit))), cv2.LINE_AA)
    # Depth scale: a ruler beside the sector, a tick every cm, longer and labelled every 5 cm.
    ruler_x = min(x1 + int(12 * unit), w - int(30 * unit))
    per_cm = 10.0 / spacing[0]
    for k in range(int((y1 - y0) / per_cm) + 1):
        y = int(round(fan.apex[1] + k * per_cm)) if fan.apex[1] >= 0 else int(round(y0 + k * per_cm))
        if not 0 <= y < h:
            continue
        length = int((10 if k % 5 == 0 else 5) * unit)
        cv2.line(static, (ruler_x, y), (ruler_x + length, y), WHITE, max(1, int(round(unit))))
        if k % 5 == 0 and k:
            cv2.putText(static, str(k), (ruler_x + length + 2, y + int(4 * unit)), font, 0.4 * unit, WHITE, 1, cv2.LINE_AA)
    # Grey-level bar and a colour (tissue-tint) bar at the right edge.
    bar_h, bar_w = int(0.3 * h), max(4, int(10 * unit))
    bar_y, bar_x = int(0.25 * h), w - int(20 * unit)
    ramp = np.linspace(255, 0, bar_h).astype(np.uint8)[:, None]
    static[bar_y:bar_y + bar_h, bar_x:bar_x + bar_w] = ramp[..., None]
    tint = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[..., ::-1]  # BGR -> RGB
    bar_x2 = bar_x - bar_w - int(4 * unit)
    static[bar_y:bar_y + bar_h, bar_x2:bar_x2 + bar_w] = np.repeat(tint, bar_w, axis=1)
    # Orientation marker (a small filled "V" logo) beside the apex.
    mx, my = int(fan.apex[0] + 40 * unit), max(int(y0 + 8 * unit), int(8 * unit))
    pts = np.array([[mx - 6 * unit, my - 5 * unit], [mx + 6 * unit, my - 5 * unit], [mx, my + 6 * unit]], np.int32)
    cv2.fillPoly(static, [pts], CYAN)
    # ECG: a trace along the bottom, swept frame by frame, with a bright head and a running clock.
    ecg_y, ecg_amp = h - int(30 * unit), 14 * unit
    xs = np.arange(int(0.05 * w), int(0.95 * w))
    beat = max(int(w / rng.uniform(2.0, 3.5)), 20)
    phase = (xs - xs[0]) % beat / beat
    trace = ecg_y - ecg_amp * (np.exp(-((phase - 0.2) / 0.012) ** 2) - 0.25 * np.exp(-((phase - 0.24) / 0.015) ** 2)
                               + 0.2 * np.exp(-((phase - 0.45) / 0.05) ** 2))
    points = np.stack([xs, trace], axis=1).round().astype(np.int32)
    outside = ~fan_mask
    started = float(rng.uniform(0, 60))
    for i in range(t):
        layer = static.copy()
        head = 1 + int((i + 1) / t * (len(points) - 1))
        cv2.polylines(layer, [points[:head]], False, GREEN, max(1, int(round(unit))), cv2.LINE_AA)
        cv2.circle(layer, tuple(int(v) for v in points[head - 1]), max(2, int(3 * unit)), WHITE, -1)
        clock = started + i / fps
        cv2.putText(layer, f"{int(clock // 60):02d}:{clock % 60:05.2f}", (int(8 * unit), h - int(8 * unit)), font,
                    0.45 * unit, WHITE, 1, cv2.LINE_AA)
        drawn = layer.any(axis=-1) & outside
        rgb[i][drawn] = layer[drawn]
