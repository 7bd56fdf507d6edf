"""The ultrasound sector (fan) of a video: its geometry, detection from pixels, and the crop to the model.

A scanner export (DICOM cine, AVI from a PACS) shows the fan somewhere on a wide canvas with burned-in
text, an ECG trace, a depth scale and colour bars around it. EchoNet-Dynamic's videos are already cut
to the fan and masked. This module finds the fan, blanks everything outside it, and crops a window
with the model's aspect ratio (padding, never stretching), with the inverse mapping so predictions
come back to the original frame's pixels, where the file's spacing holds.

Geometry (`FanGeometry`), in pixel coordinates (x = column, y = row) of the original frame: an apex
(the transducer), two straight edges at angles from the downward vertical, an outer arc (and an inner
one for curved probes), all clipped by a box (the image area: the frame, a DICOM ultrasound region, or
the sides of an image that cut the fan). A linear probe's rectangular image is a geometry without an
apex (the box alone). Pixels are taken as square, as scan-converted displays draw them.

Detection (`detect_fan`): pixels whose value changes over time (speckle decorrelates frame to frame;
text, scales and colour bars do not) or, for a still image, that carry speckle texture; thin moving
lines (an ECG sweep) removed by a morphological opening; the largest region kept; then the two edges
fitted as lines through the region's row extremes, the arc as the median of the largest radius per
ray. When a DICOM file gives an ultrasound region, detection runs inside its box only.

Pure numpy/OpenCV (no torch): readers and predict both use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from echoseg.errors import DataError

# A fan filling at least this fraction of the frame's height and width is taken as already cropped
# (EchoNet-Dynamic's 112x112 frames, CAMUS images): such inputs are left as they are.
FILLS_FRAME_FRACTION = 0.9
# Frames no larger than this on either side are taken as already cut to their fan, whatever the detector
# makes of them: EchoNet-Dynamic's are 112x112, scanner exports are hundreds of pixels wide. On 203 real
# EchoNet-Dynamic videos the detector read a dark near field or a faint lateral edge as the fan's end in
# 53 (which were then cropped, unlike the other 145 and unlike training) and found no fan in 5 (issue 22).
PRECROPPED_MAX_SIDE = 160
MAX_DETECTION_FRAMES = 48
FRAMINGS = ("depth", "whole")


class FanNotFound(DataError):
    """No ultrasound sector could be found in a video (the message says why)."""


Box = tuple[int, int, int, int]  # (x0, y0, x1, y1): columns x0..x1-1, rows y0..y1-1


@dataclass(frozen=True)
class FanGeometry:
    """An ultrasound sector in the pixels of a frame of `shape` (H, W).

    apex: (x, y) of the transducer, may lie above the first row; None for a rectangular image (linear
          probe), whose image is the box alone.
    angles: (left, right) radians of the two straight edges from the downward vertical (atan2(dx, dy):
            negative towards smaller x), left < right.
    radii: (inner, outer) distance in pixels from the apex covered by the image (inner 0 for phased arrays).
    box: (x0, y0, x1, y1) the image area the sector is clipped by.
    source: how it was found: "pixels", "dicom-region" (region box, no fan found inside), "whole-frame"
            (signal across the whole frame without a sector's shape: already cropped), "truth" (known).
    """

    shape: tuple[int, int]
    apex: tuple[float, float] | None
    angles: tuple[float, float]
    radii: tuple[float, float]
    box: Box
    source: str = "pixels"

    @cached_property
    def _full_mask(self) -> np.ndarray:
        h, w = self.shape
        mask = self.mask_in_window(0, 0, h, w, 1.0)
        mask.setflags(write=False)
        return mask

    def mask(self) -> np.ndarray:
        """bool (H, W): True inside the sector (computed once; read-only)."""
        return self._full_mask

    def mask_in_window(self, x0: float, y0: float, out_h: int, out_w: int, scale: float) -> np.ndarray:
        """bool (out_h, out_w): the sector sampled on a grid whose pixel (i, j) centre is the original point
        (x0 + (j + 0.5) / scale - 0.5, y0 + (i + 0.5) / scale - 0.5) (the cv2.resize convention)."""
        xs = (x0 + (np.arange(out_w) + 0.5) / scale - 0.5).astype(np.float32)
        ys = (y0 + (np.arange(out_h) + 0.5) / scale - 0.5).astype(np.float32)
        bx0, by0, bx1, by1 = self.box
        inside = ((ys >= by0 - 0.5) & (ys < by1 - 0.5))[:, None] & ((xs >= bx0 - 0.5) & (xs < bx1 - 0.5))[None, :]
        if self.apex is None:
            return inside
        ax, ay = self.apex
        inner, outer = self.radii
        # Only the rows and columns the sector can reach are computed (a small part of a wide canvas).
        rows = np.flatnonzero((ys >= ay - outer) & (ys <= ay + outer))
        cols = np.flatnonzero((xs >= ax - outer) & (xs <= ax + outer))
        out = np.zeros((out_h, out_w), bool)
        if rows.size == 0 or cols.size == 0:
            return out
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        dx, dy = xs[None, c0:c1] - np.float32(ax), ys[r0:r1, None] - np.float32(ay)
        left, right = self.angles
        # The wedge as two half-planes (its opening is under 180 degrees): the angle atan2(dx, dy) is at
        # least `left` where dx cos(left) - dy sin(left) >= 0, at most `right` where dy sin(right) - dx cos(right) >= 0.
        wedge = ((dx * np.float32(math.cos(left)) - dy * np.float32(math.sin(left)) >= 0)
                 & (dy * np.float32(math.sin(right)) - dx * np.float32(math.cos(right)) >= 0))
        radius2 = dx * dx + dy * dy
        ring = (radius2 <= np.float32(outer * outer)) & (radius2 >= np.float32(inner * inner))
        out[r0:r1, c0:c1] = wedge & ring
        return out & inside

    def bbox(self) -> Box:
        """(x0, y0, x1, y1) of the sector's pixels (the box itself for an empty sector)."""
        mask = self.mask()
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return self.box
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1

    def fills_frame(self, fraction: float = FILLS_FRAME_FRACTION) -> bool:
        """The sector spans at least `fraction` of the frame's height and width: the input is already
        cropped to its fan (EchoNet-Dynamic, CAMUS) and needs no crop."""
        x0, y0, x1, y1 = self.bbox()
        h, w = self.shape
        return (y1 - y0) >= fraction * h and (x1 - x0) >= fraction * w

    def outline(self, points: int = 96) -> np.ndarray:
        """float (N, 2) (x, y) closed polygon of the sector's border (clipped by the box), for drawing."""
        mask = self.mask().astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return np.zeros((0, 2), np.float32)
        contour = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float32)
        step = max(1, len(contour) // points)
        return contour[::step]

    def to_dict(self) -> dict:
        """JSON-ready: degrees for angles, pixels for the rest (result.json)."""
        return {
            "shape": list(self.shape), "source": self.source,
            "apex_xy": None if self.apex is None else [round(float(v), 2) for v in self.apex],
            "angles_deg": [round(math.degrees(a), 2) for a in self.angles],
            "radii_px": [round(float(r), 2) for r in self.radii], "box_xyxy": [int(v) for v in self.box],
        }

    @classmethod
    def from_dict(cls, data: dict) -> FanGeometry:
        return cls(shape=tuple(data["shape"]), apex=None if data["apex_xy"] is None else tuple(data["apex_xy"]),
                   angles=tuple(math.radians(a) for a in data["angles_deg"]), radii=tuple(data["radii_px"]),
                   box=tuple(data["box_xyxy"]), source=data.get("source", "pixels"))


def box_geometry(shape: tuple[int, int], box: Box, source: str) -> FanGeometry:
    """A rectangular image area (linear probe, or a DICOM region with no fan found inside)."""
    return FanGeometry(shape=shape, apex=None, angles=(0.0, 0.0), radii=(0.0, 0.0), box=box, source=source)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# ----------------------------------------------------------------------------------------------
# Detection


@dataclass
class DetectionSettings:
    """Knobs of `detect_fan`, relative to the frame so they hold from 112 px to 1000 px frames.

    min_area: smallest fan, as a fraction of the frame (or region) area.
    line_width: thinnest structure kept, as a fraction of the frame's shorter side (ECG traces and
                moving text strokes are thinner and are opened away).
    """

    min_area: float = 0.02
    line_width: float = 0.012
    max_frames: int = MAX_DETECTION_FRAMES
    min_fit_iou: float = 0.85


def activity_map(video: np.ndarray, max_frames: int = MAX_DETECTION_FRAMES) -> np.ndarray:
    """float32 (H, W): how much each pixel carries ultrasound signal.

    Several frames: the temporal standard deviation over up to `max_frames` evenly spaced frames
    (speckle decorrelates; burned-in graphics do not). One frame, or a video whose frames are all the
    same (a frozen loop): local speckle texture (the standard deviation in a 5x5 window) plus a quarter
    of the local brightness; burned-in graphics are then removed by their thinness alone.
    """
    t = video.shape[0]
    if t >= 3:
        picks = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
        total = np.zeros(video.shape[1:], np.float32)
        squares = np.zeros(video.shape[1:], np.float32)
        for index in picks:  # frame by frame: no float copy of the whole video
            frame = video[index].astype(np.float32)
            total += frame
            squares += frame * frame
        mean = total / len(picks)
        std = np.sqrt(np.maximum(squares / len(picks) - mean * mean, 0))
        if float(std.max()) > 0.5:
            return std
    frame = video[t // 2].astype(np.float32)
    mean = cv2.blur(frame, (5, 5))
    texture = np.sqrt(np.maximum(cv2.blur(frame * frame, (5, 5)) - mean * mean, 0))
    # Smooth tissue (a low-speckle or upsampled image) has little texture but is lit: count both.
    return texture + 0.25 * mean


def detect_fan(video: np.ndarray, region: Box | None = None, *, path: str = "<video>",
               settings: DetectionSettings | None = None) -> FanGeometry:
    """Find the sector in uint8 (T, H, W) frames. Raises FanNotFound (naming `path`) when there is none.

    region: an image area known from the file (DICOM SequenceOfUltrasoundRegions): detection looks
    inside it only and the sector is clipped by it; when no fan is found inside, the region box itself
    is returned (source "dicom-region"), as for a linear probe.
    """
    settings = settings or DetectionSettings()
    if video.ndim != 3 or video.shape[0] == 0:
        raise FanNotFound(path, f"expected frames (T, H, W), got shape {video.shape}")
    shape = (int(video.shape[1]), int(video.shape[2]))
    low, high = int(video.min()), int(video.max())
    if low == high:  # all black and all white alike: one reason, not "no fan" for one and "fills the frame" for the other
        raise FanNotFound(path, f"no ultrasound fan found: every frame is one flat grey level ({low}), no image")
    support = None
    try:
        try:
            support = fan_support(video, region, settings)
            return _fit_support(support, region, shape, settings)
        except _NoFan:
            if video.shape[0] < 3:
                raise
            # A frozen loop whose graphics move (an ECG sweep over a still image): the still's texture.
            middle = video.shape[0] // 2
            support = fan_support(video[middle:middle + 1], region, settings)
            return _fit_support(support, region, shape, settings)
    except _NoFan as exc:
        if region is not None:
            return box_geometry(shape, region, "dicom-region")
        if support is not None and _spans_frame(support):
            # Signal from edge to edge but no sector shape: an image already cut to its content.
            return box_geometry(shape, (0, 0, shape[1], shape[0]), "whole-frame")
        raise FanNotFound(path, f"no ultrasound fan found: {exc}; use --no-crop to run on the whole frame") from None


def _fit_support(support: np.ndarray, region: Box | None, shape: tuple[int, int],
                 settings: DetectionSettings) -> FanGeometry:
    if support.sum() < settings.min_area * _area(region, shape):
        raise _NoFan("no moving speckle region large enough to be an ultrasound sector "
                     f"(largest covers {100 * support.mean():.1f}% of the frame)")
    return fit_fan(support, region, opening_width(shape, settings), settings.min_fit_iou)


def _spans_frame(support: np.ndarray, fraction: float = FILLS_FRAME_FRACTION) -> bool:
    rows, cols = np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))
    h, w = support.shape
    return rows.size > 0 and rows[-1] - rows[0] + 1 >= fraction * h and cols[-1] - cols[0] + 1 >= fraction * w


class _NoFan(Exception):
    pass


def _area(region: Box | None, shape: tuple[int, int]) -> float:
    if region is None:
        return float(shape[0] * shape[1])
    x0, y0, x1, y1 = region
    return float(max(x1 - x0, 1) * max(y1 - y0, 1))


def fan_support(video: np.ndarray, region: Box | None = None, settings: DetectionSettings | None = None) -> np.ndarray:
    """bool (H, W): the convex hull of the largest regions carrying ultrasound signal.

    The activity map is smoothed, thresholded halfway between the background and the typical level
    inside the signal (so the border lands on the fan's edge, not outside it), opened to remove thin
    moving lines (ECG sweep, changing text), and its largest component kept.
    """
    settings = settings or DetectionSettings()
    h, w = video.shape[1:]
    activity = activity_map(video, settings.max_frames)
    if region is not None:
        x0, y0, x1, y1 = region
        clipped = np.zeros_like(activity)
        clipped[max(y0, 0):y1, max(x0, 0):x1] = activity[max(y0, 0):y1, max(x0, 0):x1]
        activity = clipped
    k = max(3, int(round(0.01 * min(h, w))) | 1)
    smooth = cv2.blur(activity, (k, k))
    lit = smooth[smooth > 0.5]
    if lit.size < settings.min_area * h * w:
        raise _NoFan("the frames do not change and carry no texture")
    level = float(np.percentile(lit, 60))
    mask = (smooth > 0.5 * level).astype(np.uint8)
    width = opening_width((h, w), settings)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise _NoFan("nothing survives removing thin lines")
    # The sector, possibly split by dark chambers reaching across it: the largest region, joined by each
    # region at least a twentieth of its size that lies beside it (their hull stays nearly full; burned-in
    # graphics that survive the opening lie apart and would leave the hull mostly empty).
    order = 1 + np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    support = labels == order[0]
    hull = _convex_fill(support)
    for label in order[1:]:
        if stats[label, cv2.CC_STAT_AREA] < stats[order[0], cv2.CC_STAT_AREA] / 20:
            break
        joined = support | (labels == label)
        joined_hull = _convex_fill(joined)
        if joined.sum() / joined_hull.sum() >= 0.8 * support.sum() / hull.sum():
            support, hull = joined, joined_hull
    return hull


def opening_width(shape: tuple[int, int], settings: DetectionSettings) -> int:
    """Odd width in pixels of the opening that removes thin lines from the activity mask."""
    return max(3, int(round(settings.line_width * min(shape))) | 1)


def _convex_fill(mask: np.ndarray) -> np.ndarray:
    """The convex hull of a region, filled. A sector is convex; dark blood pools reaching its edge leave
    notches in the signal, and the hull bridges each notch along the straight edge or close to the arc."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    hull = cv2.convexHull(points)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return filled.astype(bool) | mask


def fit_fan(support: np.ndarray, region: Box | None = None, line_width: int = 3,
            min_iou: float = DetectionSettings.min_fit_iou) -> FanGeometry:
    """Fit apex, edge angles, radii and clipping box to a support mask (see module doc). Raises _NoFan.

    line_width: the opening's width that made the support (thinner parts of it are gone).
    min_iou: the fitted sector must overlap the support at least this much, else it is no sector.
    """
    h, w = support.shape
    rows = np.flatnonzero(support.any(axis=1))
    cols = np.flatnonzero(support.any(axis=0))
    sx0, sy0, sx1, sy1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    height = sy1 - sy0
    if height < max(8, 0.2 * h) or sx1 - sx0 < max(8, 0.1 * w):
        raise _NoFan(f"signal region only {sx1 - sx0}x{height} px of the {w}x{h} frame")
    left = np.argmax(support, axis=1).astype(float)
    right = (w - 1 - np.argmax(support[:, ::-1], axis=1)).astype(float)
    ys = np.arange(h, dtype=float)
    present = support.any(axis=1)
    # Rows of the straight edges: away from the apex tip and above the arc, not on the clipping sides.
    band = present & (ys >= sy0 + 0.04 * height) & (ys <= sy0 + 0.5 * height)
    left_line = _robust_line(ys[band & (left > sx0 + 1)], left[band & (left > sx0 + 1)])
    right_line = _robust_line(ys[band & (right < sx1 - 2)], right[band & (right < sx1 - 2)])
    # A side running straight down the signal's bounding box (a linear probe's rectangle) is a vertical line.
    if left_line is None and (left[band] <= sx0 + 1).mean() > 0.9:
        left_line = (0.0, float(sx0))
    if right_line is None and (right[band] >= sx1 - 2).mean() > 0.9:
        right_line = (0.0, float(sx1 - 1))
    frame_box = region if region is not None else (0, 0, w, h)
    if left_line is None or right_line is None:
        raise _NoFan("the signal region has no straight side edges")
    (ml, cl), (mr, cr) = left_line, right_line  # x = m * y + c
    if abs(ml - mr) < math.tan(math.radians(6)):  # parallel sides: a rectangular (linear probe) image
        geometry = box_geometry((h, w), (sx0, sy0, sx1, sy1), "pixels")
        return _checked(geometry, support, min_iou)
    ay = (cr - cl) / (ml - mr)
    ax = ml * ay + cl
    angles = (math.atan(ml), math.atan(mr))
    if not (angles[0] < angles[1]) or ay > sy0 + 0.25 * height:
        raise _NoFan("the side edges do not meet above the signal region")
    outer, inner = _radii(support, (ax, ay), angles, (sx0, sy0, sx1, sy1), line_width)
    unclipped = FanGeometry((h, w), (ax, ay), angles, (inner, outer), frame_box)
    box = _clip_box(support, unclipped.bbox(), frame_box, line_width)
    return _checked(FanGeometry((h, w), (ax, ay), angles, (inner, outer), box), support, min_iou)


def _robust_line(y: np.ndarray, x: np.ndarray) -> tuple[float, float] | None:
    """x = m y + c by least squares, refitted twice on the points within 3 robust SDs (drops notches from
    dark speckle at the edge and burned-in marks touching it)."""
    if y.size < 6:
        return None
    keep = np.ones(y.size, bool)
    for _ in range(3):
        if keep.sum() < 6:
            return None
        m, c = np.polyfit(y[keep], x[keep], 1)
        residual = x - (m * y + c)
        spread = 1.4826 * np.median(np.abs(residual[keep])) + 0.5
        keep = np.abs(residual) <= 3 * spread
    return float(m), float(c)


def _radii(support: np.ndarray, apex: tuple[float, float], angles: tuple[float, float], sbox: Box,
           line_width: int) -> tuple[float, float]:
    """(outer, inner) radius: medians over rays of the farthest / nearest signal pixel, skipping rays cut
    by the clipping sides; the inner radius is 0 unless the top of the signal is an arc (curved probe)."""
    ys, xs = np.nonzero(support)
    ax, ay = apex
    radius = np.hypot(xs - ax, ys - ay)
    angle = np.arctan2(xs - ax, ys - ay)
    left, right = angles
    span = right - left
    bins = np.clip(((angle - left) / span * 48).astype(int), 0, 47)
    far = np.full(48, -1.0)
    near = np.full(48, np.inf)
    np.maximum.at(far, bins, radius)
    np.minimum.at(near, bins, radius)
    sx0, sy0, sx1, sy1 = sbox
    # The farthest pixel of a ray that ends on the left/right clipping side says nothing about the arc.
    far_x = ax + far * np.sin(left + (np.arange(48) + 0.5) / 48 * span)
    usable = (far > 0) & (far_x > sx0 + 2) & (far_x < sx1 - 3)
    usable[:4] = usable[-4:] = False  # rays along the edges are partly outside the fan
    if usable.sum() < 5:
        usable = far > 0
    outer = float(np.median(far[usable]))
    # An arc at the top (curved probe) is far from the apex; a phased array's tip is only rounded off
    # by the removal of thin lines (within a few line widths of the apex), or cut by the image's top edge.
    top_rows = ay + near * np.cos(left + (np.arange(48) + 0.5) / 48 * span)
    inner = float(np.median(near[usable]))
    flat_top = np.ptp(top_rows[usable]) <= max(2.0, 0.01 * (sy1 - sy0))
    return outer, (0.0 if flat_top or inner < max(0.1 * outer, 4 * line_width) else inner)


def _clip_box(support: np.ndarray, fan_box: Box, frame_box: Box, line_width: int) -> Box:
    """The frame box, tightened on each side where the image cuts the fan (a zoomed image, EchoNet's
    square frames): the unclipped sector `fan_box` reaches clearly past the signal there, and the signal
    ends along a straight stretch of that side rather than touching it in a point."""
    rows = np.flatnonzero(support.any(axis=1))
    cols = np.flatnonzero(support.any(axis=0))
    sx0, sy0, sx1, sy1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    stretch = max(3 * line_width, int(0.03 * min(sy1 - sy0, sx1 - sx0)))
    margin = max(line_width, int(0.015 * min(sy1 - sy0, sx1 - sx0)))
    fx0, fy0, fx1, fy1 = fan_box
    x0, y0, x1, y1 = frame_box
    cut_left = sx0 > fx0 + margin and support[:, sx0].sum() >= stretch
    cut_right = sx1 < fx1 - margin and support[:, sx1 - 1].sum() >= stretch
    cut_top = sy0 > fy0 + margin and support[sy0].sum() >= stretch
    cut_bottom = sy1 < fy1 - margin and support[sy1 - 1].sum() >= stretch
    return (sx0 if cut_left else x0, sy0 if cut_top else y0, sx1 if cut_right else x1, sy1 if cut_bottom else y1)


def _checked(geometry: FanGeometry, support: np.ndarray, min_iou: float) -> FanGeometry:
    overlap = iou(geometry.mask(), support)
    if overlap < min_iou:
        raise _NoFan(f"the signal region is not sector-shaped (best sector overlaps it by {overlap:.2f})")
    return geometry


# ----------------------------------------------------------------------------------------------
# Crop to the model and back


@dataclass(frozen=True)
class FanCrop:
    """The window of the original frame the model sees, and the way back.

    window: (x0, y0, width, height) in original pixels (may reach outside the frame: padded with 0);
    its aspect ratio is the model's, so resizing it to `size` (H, W) scales both axes alike.
    Outside the sector everything is blanked (text, ECG, markers).
    """

    geometry: FanGeometry
    window: tuple[int, int, int, int]
    size: tuple[int, int]
    blank: bool = True

    @classmethod
    def around(cls, geometry: FanGeometry, size: tuple[int, int], framing: str = "depth") -> FanCrop:
        """The window for `geometry`: its top at the sector's top, centred on it.

        framing "depth": the window is as tall as the sector (the way EchoNet-Dynamic frames its
        videos: a wide fan's lateral tips fall outside); "whole": large enough for the whole sector.
        """
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
        out_h, out_w = size
        x0, y0, x1, y1 = geometry.bbox()
        height = y1 - y0
        if framing == "whole":
            height = max(height, int(math.ceil((x1 - x0) * out_h / out_w)))
        width = int(round(height * out_w / out_h))
        left = int(round((x0 + x1) / 2 - width / 2))
        return cls(geometry=geometry, window=(left, y0, width, height), size=(int(out_h), int(out_w)))

    @classmethod
    def native(cls, geometry: FanGeometry, framing: str = "depth") -> FanCrop:
        """A square window around the sector at the original resolution (scale 1): what a reader gives
        training, whose transforms then resize it like any square video."""
        square = cls.around(geometry, (1, 1), framing)
        side = square.window[3]
        return cls(geometry=geometry, window=square.window, size=(side, side))

    @property
    def scale(self) -> float:
        """Model pixels per original pixel (the same on both axes)."""
        return self.size[0] / self.window[3]

    def input_spacing(self, spacing_mm: tuple[float, float] | None) -> tuple[float, float] | None:
        """(dy, dx) mm of a model-input pixel, from the original frame's spacing."""
        if spacing_mm is None:
            return None
        return spacing_mm[0] / self.scale, spacing_mm[1] / self.scale

    def _window_mask(self) -> np.ndarray:
        """bool window-sized (height, width) sector mask."""
        x0, y0, width, height = self.window
        return self.geometry.mask_in_window(x0, y0, height, width, 1.0)

    def cut(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W) -> (T, height, width) window, zero where it leaves the frame."""
        t, h, w = frames.shape
        x0, y0, width, height = self.window
        out = np.zeros((t, height, width), frames.dtype)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + width, w), min(y0 + height, h)
        if sx1 > sx0 and sy1 > sy0:
            out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frames[:, sy0:sy1, sx0:sx1]
        return out

    def apply(self, video: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W) original frames -> uint8 (T, size) model input, outside the sector blanked."""
        window = self.cut(video)
        if self.blank:
            window *= self._window_mask()[None].astype(window.dtype)
        out_h, out_w = self.size
        interp = cv2.INTER_AREA if out_h < window.shape[1] else cv2.INTER_LINEAR
        return np.stack([cv2.resize(f, (out_w, out_h), interpolation=interp) for f in window])

    def apply_mask(self, mask: np.ndarray) -> np.ndarray:
        """bool (H, W) original mask -> bool (size), through the same window (area-weighted, > 0.5)."""
        window = self.cut(mask[None].astype(np.float32))[0]
        out_h, out_w = self.size
        interp = cv2.INTER_AREA if out_h < window.shape[0] else cv2.INTER_LINEAR
        return cv2.resize(window, (out_w, out_h), interpolation=interp) > 0.5

    def invert_probs(self, probs: np.ndarray) -> np.ndarray:
        """float (T, size) model-input probabilities -> float32 (T, H, W) on the original frame, bilinear;
        zero outside the window and outside the sector."""
        t = probs.shape[0]
        h, w = self.geometry.shape
        x0, y0, width, height = self.window
        out = np.zeros((t, h, w), np.float32)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + width, w), min(y0 + height, h)
        if sx1 <= sx0 or sy1 <= sy0:
            return out
        sector = self.geometry.mask()[sy0:sy1, sx0:sx1]
        for i, p in enumerate(probs):
            big = cv2.resize(p.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
            out[i, sy0:sy1, sx0:sx1] = big[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] * sector
        return out

    def to_original(self, points_xy: np.ndarray) -> np.ndarray:
        """(..., 2) (x, y) model-input pixel coordinates -> original frame pixel coordinates."""
        x0, y0 = self.window[:2]
        return (np.asarray(points_xy, float) + 0.5) / self.scale - 0.5 + np.array([x0, y0], float)

    def to_dict(self) -> dict:
        return {"window_xywh": [int(v) for v in self.window], "input_size": list(self.size),
                "scale": round(self.scale, 6), "fan": self.geometry.to_dict()}


def small_enough_to_be_cropped(shape: tuple[int, int]) -> bool:
    """A frame of `shape` (H, W) this small is already cut to its fan (see PRECROPPED_MAX_SIDE)."""
    return max(shape) <= PRECROPPED_MAX_SIDE


def crop_sample(sample, framing: str = "depth", path: str | None = None, region: Box | None = None):
    """An EchoSample cut to its ultrasound fan at the original resolution (see `FanCrop.native`): video
    blanked outside the fan, masks and labels cut to the same window, spacing unchanged (no resampling).
    A sample whose fan fills its frame (EchoNet-Dynamic, CAMUS) or whose frames are small enough to be
    already cut (`small_enough_to_be_cropped`) comes back as it is. region: the file's ultrasound
    region (DICOM), where detection looks, as in predict. Raises FanNotFound.
    """
    from dataclasses import replace

    if small_enough_to_be_cropped(sample.video.shape[1:]):
        return sample
    fan = detect_fan(sample.video, region, path=path or sample.case_id)
    if fan.fills_frame():
        return sample
    crop = FanCrop.native(fan, framing)
    labels = {i: crop.cut(label[None])[0] for i, label in sample.labels.items()}
    return replace(sample, video=crop.apply(sample.video), masks={i: crop.apply_mask(m) for i, m in sample.masks.items()},
                   labels=labels)
