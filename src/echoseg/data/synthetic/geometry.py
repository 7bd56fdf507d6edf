"""Apical-4-chamber heart geometry and its motion, in millimetres.

Coordinates: the transducer (apex of the ultrasound fan) is the origin, x points to the image's right,
y points down (depth). The heart is described in the left ventricle's own frame: `along` runs from the
LV apex towards the mitral valve, `across` is perpendicular, positive towards the LV lateral wall
(image right), negative towards the septum and the right ventricle (image left).

The LV cavity is a bullet: for the normalised long-axis position s in [0, 1] (apex 0, mitral annulus 1)
its boundary lies at across = centre(s) - w_septal(s) and centre(s) + w_lateral(s). Because the
boundary is a function of s, the disk diameter at s is exactly w_septal(s) + w_lateral(s), so the
method-of-disks volume of the truth is known analytically (no rasterisation error).

Motion: a contraction value q(t) (0 at end-diastole, about 1 at end-systole) shortens the cavity
longitudinally (the base moves towards the fixed apex) and radially (each wall moves inwards, less in
hypokinetic segments), thickens the walls, lengthens the left atrium and swings the valves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# Long-axis samples of one contour side: dense near the apex, where the boundary curves most.
N_SIDE = 40
S_SIDE = np.linspace(0.0, 1.0, N_SIDE) ** 1.6
N_DISKS = 20
S_DISKS = (np.arange(N_DISKS) + 0.5) / N_DISKS


# Relative systolic wall thickening, drawn per heart (real myocardium: about 0.4-0.6; ef_stress.py shows the
# built-in model expects this range's ES walls).
SYSTOLIC_THICKENING = (0.25, 0.5)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class HeartShape:
    """Per-video anatomy and motion amplitudes (all lengths in mm, angles in radians)."""

    apex: np.ndarray  # (2,) LV apex (x, y) at end-diastole, before drift
    axis_angle: float  # LV long axis from straight down, positive turns the base to the image right
    length: float  # LV cavity length at end-diastole
    half_width: float  # mid-cavity half width at end-diastole
    septal_ratio: float  # septal half width / lateral half width
    apex_power: float  # exponent of the apical dome profile (0.5 round .. 0.8 pointed)
    apex_span: float  # fraction of the length the dome takes
    base_narrowing: float  # relative narrowing of the cavity at the annulus
    bend: float  # centre-line bow (mm at mid-cavity)
    harmonics: np.ndarray  # (2, 3, 2) amplitude and phase per side and harmonic
    wall_septal: float  # myocardial thickness at end-diastole
    wall_lateral: float
    thickening: float  # relative systolic wall thickening
    radial: float  # radial shortening fraction at q = 1
    longitudinal: float  # longitudinal shortening fraction at q = 1
    septal_motion: float  # septal radial motion relative to the lateral wall
    hypo_centre: float  # hypokinetic segment: centre s, side (-1 septal, 1 lateral, 0 both), depth
    hypo_side: int
    hypo_depth: float  # 0: no hypokinesia, 1: akinetic
    rv_start: float  # RV apex position (s of the LV)
    rv_end: float  # tricuspid annulus position (s of the LV)
    rv_width: float  # RV cavity width at end-diastole
    rv_wall: float
    la_length: float  # left atrium length at end-diastole
    ra_length: float
    la_bulge: tuple[float, float]  # septal and lateral bulge of the LA (mm)
    ra_bulge: tuple[float, float]
    papillary: float  # papillary muscle visibility 0..1
    wall_ripple: np.ndarray  # (2, 2) relative amplitude and phase of wall-thickness variation per side
    chambers: int = 4  # 4: apical four-chamber (RV and RA drawn); 2: two-chamber (LV and LA only)


@dataclass(frozen=True)
class Placement:
    """Where the LV sits in the fan, as fractions of the imaging depth (ranges of uniform draws).

    apex_x: apex offset to the right of the fan's centre line; apex_depth: apex depth; length: LV
    cavity length at end-diastole (before dilation); axis_deg: long-axis tilt (base to the right);
    width: mid-cavity half width relative to the length. The classic defaults put a small LV high in
    the fan; the realistic preset's match EchoNet-Dynamic's traced LVs (centroid near mid-height).
    """

    apex_x: tuple[float, float] = (-0.01, 0.06)
    apex_depth: tuple[float, float] = (0.13, 0.19)
    length: tuple[float, float] = (0.42, 0.5)
    axis_deg: tuple[float, float] = (4.0, 18.0)
    width: tuple[float, float] = (0.25, 0.31)


def draw_shape(rng: np.random.Generator, depth_mm: float, ef_target: float,
               placement: Placement | None = None) -> HeartShape:
    """Draw one heart scaled to a fan of `depth_mm`; dilated, rounder ventricles when the EF is low."""
    placement = placement or Placement()
    dilation = 1.0 + 0.25 * float(np.clip((50.0 - ef_target) / 30.0, 0.0, 1.0)) * rng.uniform(0.5, 1.0)
    length = depth_mm * rng.uniform(*placement.length) * min(dilation, 1.12)
    half_width = length * rng.uniform(*placement.width) * dilation / min(dilation, 1.12)
    apex = np.array([depth_mm * rng.uniform(*placement.apex_x), depth_mm * rng.uniform(*placement.apex_depth)])
    hypo = rng.random() < 0.3
    harmonics = np.stack([rng.normal(0, [0.04, 0.025, 0.015]), rng.uniform(0, 2 * math.pi, 3)], axis=-1)
    harmonics = np.stack([harmonics, np.stack([rng.normal(0, [0.04, 0.025, 0.015]),
                                               rng.uniform(0, 2 * math.pi, 3)], axis=-1)])
    return HeartShape(
        apex=apex,
        axis_angle=math.radians(rng.uniform(*placement.axis_deg)),
        length=length,
        half_width=half_width,
        septal_ratio=rng.uniform(0.82, 1.0),
        apex_power=rng.uniform(0.5, 0.8),
        apex_span=rng.uniform(0.28, 0.45) * (0.85 if dilation > 1.1 else 1.0),
        base_narrowing=rng.uniform(0.05, 0.2),
        bend=rng.uniform(-0.12, 0.12) * half_width,
        harmonics=harmonics,
        wall_septal=rng.uniform(8.0, 12.0) * depth_mm / 150,
        wall_lateral=rng.uniform(6.5, 10.0) * depth_mm / 150,
        thickening=rng.uniform(*SYSTOLIC_THICKENING),
        radial=0.0,
        longitudinal=0.0,
        septal_motion=rng.uniform(0.65, 0.95),
        hypo_centre=rng.uniform(0.1, 0.8),
        hypo_side=int(rng.choice([-1, 0, 1])),
        hypo_depth=rng.uniform(0.5, 0.9) if hypo else 0.0,
        rv_start=rng.uniform(0.18, 0.35),
        rv_end=rng.uniform(0.88, 0.96),
        rv_width=2 * half_width * rng.uniform(0.55, 0.8),
        rv_wall=rng.uniform(3.0, 5.0) * depth_mm / 150,
        la_length=length * rng.uniform(0.5, 0.65),
        ra_length=length * rng.uniform(0.45, 0.6),
        la_bulge=(rng.uniform(0.0, 3.0), rng.uniform(3.0, 9.0)),
        ra_bulge=(rng.uniform(2.0, 8.0), rng.uniform(0.0, 2.0)),
        papillary=rng.uniform(0.0, 1.0),
        wall_ripple=np.stack([rng.uniform(0.05, 0.2, 2), rng.uniform(0, 2 * math.pi, 2)], axis=-1),
    )


def two_chamber_shape(shape: HeartShape, rng: np.random.Generator) -> HeartShape:
    """The same ventricle seen in the apical two-chamber view: same length, timing and longitudinal
    shortening, its own width profile and wall segments (inferior wall on the left, anterior on the
    right: their radial motion and any hypokinesia differ), no right heart."""
    harmonics = np.stack([np.stack([rng.normal(0, [0.04, 0.025, 0.015]), rng.uniform(0, 2 * math.pi, 3)], axis=-1)
                          for _ in range(2)])
    return replace(
        shape, chambers=2, harmonics=harmonics, half_width=shape.half_width * rng.uniform(0.9, 1.1),
        septal_ratio=rng.uniform(0.9, 1.05), axis_angle=math.radians(rng.uniform(-2, 10)),
        wall_septal=shape.wall_lateral * rng.uniform(0.9, 1.15), apex_span=shape.apex_span * rng.uniform(0.9, 1.1),
        la_bulge=(rng.uniform(2.0, 6.0), rng.uniform(2.0, 6.0)),
        wall_ripple=np.stack([rng.uniform(0.05, 0.2, 2), rng.uniform(0, 2 * math.pi, 2)], axis=-1),
        radial=shape.radial * rng.uniform(0.8, 1.2), septal_motion=rng.uniform(0.8, 1.0),
        hypo_centre=rng.uniform(0.1, 0.8), hypo_side=int(rng.choice([-1, 1])),
    )


def _profile(shape: HeartShape, s: np.ndarray) -> np.ndarray:
    """Relative half width along the cavity: an apical dome, a flat body, a narrower annulus."""
    dome = np.sin(0.5 * math.pi * np.clip(s / shape.apex_span, 0, 1)) ** shape.apex_power
    return dome * (1.0 - shape.base_narrowing * smoothstep((s - 0.6) / 0.4))


def _harmonic(shape: HeartShape, side: int, s: np.ndarray) -> np.ndarray:
    amp, phase = shape.harmonics[side, :, 0], shape.harmonics[side, :, 1]
    k = np.arange(1, 4)
    return 1.0 + np.sum(amp[:, None] * np.sin(k[:, None] * math.pi * s[None, :] + phase[:, None]), axis=0)


def _hypokinesia(shape: HeartShape, side: int, s: np.ndarray) -> np.ndarray:
    """Factor on the radial motion of one side (0 septal, 1 lateral): 1 normal, lower in the bad segment."""
    sign = -1 if side == 0 else 1
    if shape.hypo_depth == 0 or shape.hypo_side not in (0, sign):
        return np.ones_like(s)
    return 1.0 - shape.hypo_depth * np.exp(-(((s - shape.hypo_centre) / 0.18) ** 2))


def half_widths(shape: HeartShape, s: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Septal and lateral half widths (mm), arrays (T, len(s)), for contraction values q (T,)."""
    q = np.asarray(q, float)[:, None]
    base = shape.half_width * _profile(shape, s)
    septal0 = base * shape.septal_ratio * _harmonic(shape, 0, s)
    lateral0 = base * _harmonic(shape, 1, s)
    septal = septal0 * (1 - shape.radial * shape.septal_motion * q * _hypokinesia(shape, 0, s))
    lateral = lateral0 * (1 - shape.radial * q * _hypokinesia(shape, 1, s))
    return septal, lateral


def centre_line(shape: HeartShape, s: np.ndarray) -> np.ndarray:
    return shape.bend * 4 * s * (1 - s)


def cavity_length(shape: HeartShape, q: np.ndarray) -> np.ndarray:
    return shape.length * (1 - shape.longitudinal * np.asarray(q, float))


def disk_geometry(shape: HeartShape, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact method-of-disks geometry of the truth cavity: diameters (T, 20) and lengths (T,) in mm.
    Disks sit at (i + 0.5) / 20 of the apex-annulus axis; the boundary is a function of the axis
    position, so each diameter is the septal plus the lateral half width."""
    septal, lateral = half_widths(shape, S_DISKS, q)
    return septal + lateral, cavity_length(shape, q)


def disk_volumes(shape: HeartShape, q: np.ndarray) -> np.ndarray:
    """Monoplane method-of-disks volume (ml) of the truth cavity for contraction values q (T,)."""
    diameters, lengths = disk_geometry(shape, q)
    return math.pi / 4 * np.sum(diameters**2, axis=1) * lengths / N_DISKS / 1000.0


def calibrate_shortening(shape: HeartShape, ef_target: float, long_ratio: float) -> None:
    """Set radial and longitudinal shortening so that q = 1 gives `ef_target` percent (bisection)."""
    lo, hi = 0.0, 0.75
    for _ in range(40):
        shape.radial = 0.5 * (lo + hi)
        shape.longitudinal = min(long_ratio * shape.radial, 0.35)
        v0, v1 = disk_volumes(shape, np.array([0.0, 1.0]))
        if 100 * (1 - v1 / v0) < ef_target:
            lo = shape.radial
        else:
            hi = shape.radial


@dataclass
class HeartFrames:
    """Contours of every structure for every frame, in mm (x, y).

    rv, rv_outer, rv_pericardium, ra and tricuspid are None in the two-chamber view.
    lv: (T, 2N-1, 2) closed cavity polygon, lateral side apex->base then septal side base->apex.
    epi: (T, 2N+1, 2) epicardium from the lateral base round the apex to the septal base, closed
        across the annulus. rv, ra, la: (T, M, 2) cavity polygons. rv_outer: RV with its free wall.
    pericardium, rv_pericardium: (T, P, 2) polylines outside the LV lateral wall and apex, the RV free wall. mitral, tricuspid: (T, 2, 2, 2) two leaflets (start, end).
    apex, base_mid: (T, 2) LV apex and annulus midpoint. papillary: (T, 2) centre.
    """

    lv: np.ndarray
    epi: np.ndarray
    rv: np.ndarray | None
    rv_outer: np.ndarray | None
    la: np.ndarray
    ra: np.ndarray | None
    pericardium: np.ndarray
    rv_pericardium: np.ndarray | None
    mitral: np.ndarray
    tricuspid: np.ndarray | None
    apex: np.ndarray
    base_mid: np.ndarray
    papillary: np.ndarray
    axis: np.ndarray  # (T, 2) unit long-axis direction


def _outward_normals(curve: np.ndarray) -> np.ndarray:
    """Unit normals of a (T, N, 2) local-coordinate curve running lateral base -> apex -> septal base."""
    tangent = np.gradient(curve, axis=1)
    normal = np.stack([tangent[..., 1], -tangent[..., 0]], axis=-1)
    return normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)


def _atrium(top_a: np.ndarray, top_b: np.ndarray, along_top: np.ndarray, length: np.ndarray,
            bulge_a: float, bulge_b: float, n: int = 24) -> np.ndarray:
    """Atrium cavity in local coords (T, 2n, 2): from annulus corner a, down and round the roof to corner b.

    top_a/top_b: (T,) across coordinates of the annulus corners (a < b); along_top (T,) annulus level.
    """
    z = np.linspace(0, 1, n)[None, :]
    bump = np.sin(math.pi * np.clip(z / 0.85, 0, 1))
    close = np.sqrt(np.clip(1 - ((z - 0.55) / 0.45).clip(0) ** 2, 0, 1))
    mid = 0.5 * (top_a + top_b)[:, None]
    half = 0.5 * (top_b - top_a)[:, None]
    along = along_top[:, None] + length[:, None] * z
    side_a = np.stack([along, mid - (half + bulge_a * bump) * close], axis=-1)
    side_b = np.stack([along, mid + (half + bulge_b * bump) * close], axis=-1)
    return np.concatenate([side_a, side_b[:, ::-1]], axis=1)


def heart_frames(shape: HeartShape, q: np.ndarray, valve_open: np.ndarray, shift: np.ndarray,
                 turn: np.ndarray) -> HeartFrames:
    """All contours for contraction q (T,), mitral opening (T,) in [0, 1], rigid drift shift (T, 2) mm
    and rotation turn (T,) radians (probe drift plus cardiac rocking)."""
    q = np.asarray(q, float)
    t = len(q)
    length = cavity_length(shape, q)  # (T,)
    s = S_SIDE
    septal, lateral = half_widths(shape, s, q)
    centre = centre_line(shape, s)[None, :]
    along = s[None, :] * length[:, None]
    lat_side = np.stack([along, centre + lateral], axis=-1)  # apex -> base
    sep_side = np.stack([along, centre - septal], axis=-1)
    lv = np.concatenate([lat_side, sep_side[:, ::-1][:, :-1]], axis=1)

    # Walls: thickness tapers towards the thin apex and grows in systole.
    taper = 0.65 + 0.35 * smoothstep(s / 0.35)
    ripple = [1 + a * np.sin(2.5 * math.pi * s + phase) for a, phase in shape.wall_ripple]
    thick_lat = shape.wall_lateral * (taper * ripple[1])[None, :] * (1 + shape.thickening * q[:, None] * _hypokinesia(shape, 1, s))
    thick_sep = shape.wall_septal * (taper * ripple[0])[None, :] * (1 + shape.thickening * q[:, None] * _hypokinesia(shape, 0, s))
    wall_curve = np.concatenate([lat_side[:, ::-1], sep_side[:, 1:]], axis=1)  # lateral base -> apex -> septal base
    thickness = np.concatenate([thick_lat[:, ::-1], thick_sep[:, 1:]], axis=1)
    normals = _outward_normals(wall_curve)
    epi_curve = wall_curve + normals * thickness[..., None]
    epi = np.concatenate([epi_curve, sep_side[:, -1:], lat_side[:, -1:]], axis=1)
    # Pericardium: outside the lateral wall and apex (the septum faces the RV); round both walls in 2CH.
    outer = N_SIDE + 8 if shape.chambers == 4 else wall_curve.shape[1]
    pericardium = wall_curve[:, :outer] + normals[:, :outer] * (thickness[:, :outer, None] + 1.5)

    # Right ventricle against the septum, its own dome at rv_start, tricuspid annulus at rv_end.
    srv = np.linspace(shape.rv_start, shape.rv_end, 24)
    z = (srv - shape.rv_start) / (shape.rv_end - shape.rv_start)
    sep_rv, _ = half_widths(shape, srv, q)
    wall_rv = shape.wall_septal * (1 + shape.thickening * q[:, None])
    medial = centre_line(shape, srv)[None, :] - sep_rv - wall_rv
    width = shape.rv_width * (1 - 0.18 * q[:, None]) * np.clip(z / 0.75, 0, 1) ** 0.6 * np.ones((t, 1))
    width = width * (1 - 0.1 * smoothstep((z - 0.8) / 0.2))
    along_rv = srv[None, :] * length[:, None]
    rv_med = np.stack([along_rv, medial], axis=-1)
    rv_lat = np.stack([along_rv, medial - width], axis=-1)
    rv = np.concatenate([rv_med, rv_lat[:, ::-1]], axis=1)
    rv_outer = np.concatenate([rv_med, np.stack([along_rv - shape.rv_wall * 0.6, medial - width - shape.rv_wall],
                                                axis=-1)[:, ::-1]], axis=1)
    rv_pericardium = np.stack([along_rv - shape.rv_wall, medial - width - shape.rv_wall - 1.5], axis=-1)

    # Atria hang below the annuli; their roofs stay put, so they lengthen as the annuli descend.
    la_top = length
    la = _atrium(sep_side[:, -1, 1], lat_side[:, -1, 1], la_top, shape.la_length + (shape.length - length) * 0.9,
                 shape.la_bulge[0], shape.la_bulge[1])
    ra_top = along_rv[:, -1]
    ra = _atrium(rv_lat[:, -1, 1], rv_med[:, -1, 1], ra_top,
                 shape.ra_length + (shape.length * shape.rv_end - ra_top) * 0.9, shape.ra_bulge[0], shape.ra_bulge[1])

    # Valve leaflets: closed they meet across the annulus bowing into the atrium, open they point to the apex.
    mitral = _leaflets(sep_side[:, -1], lat_side[:, -1], valve_open, anterior_first=True)
    tricuspid = _leaflets(rv_lat[:, -1], rv_med[:, -1], valve_open, anterior_first=False)

    papillary = np.stack([0.6 * length, centre[0, N_SIDE * 3 // 4] + 0.8 * lateral[:, N_SIDE * 3 // 4]], axis=-1)

    # Local (along, across) -> world (x, y): rotate by the axis angle plus drift, then translate.
    angle = shape.axis_angle + np.asarray(turn, float)
    u = np.stack([np.sin(angle), np.cos(angle)], axis=-1)  # (T, 2) along
    n = np.stack([np.cos(angle), -np.sin(angle)], axis=-1)  # (T, 2) across (image right when upright)
    origin = shape.apex[None, :] + np.asarray(shift, float)

    def world(p: np.ndarray) -> np.ndarray:
        extra = (slice(None),) + (None,) * (p.ndim - 2)
        return (origin[extra] + p[..., 0:1] * u[extra] + p[..., 1:2] * n[extra]).astype(np.float64)

    apex_local = np.stack([np.zeros(t), np.full(t, centre[0, 0])], axis=-1)
    base_local = np.stack([length, 0.5 * (lat_side[:, -1, 1] + sep_side[:, -1, 1])], axis=-1)
    right = shape.chambers == 4
    return HeartFrames(
        lv=world(lv), epi=world(epi), rv=world(rv) if right else None, rv_outer=world(rv_outer) if right else None,
        la=world(la), ra=world(ra) if right else None, pericardium=world(pericardium),
        rv_pericardium=world(rv_pericardium) if right else None, mitral=world(mitral),
        tricuspid=world(tricuspid) if right else None,
        apex=world(apex_local), base_mid=world(base_local), papillary=world(papillary), axis=u,
    )


def _leaflets(corner_a: np.ndarray, corner_b: np.ndarray, opening: np.ndarray, anterior_first: bool) -> np.ndarray:
    """Two leaflets (T, 2, 2, 2) hinged at annulus corners a (across smaller) and b, local coordinates."""
    width = corner_b[:, 1] - corner_a[:, 1]
    share = (0.58, 0.46) if anterior_first else (0.48, 0.56)
    out = []
    for corner, sign, frac in ((corner_a, 1.0, share[0]), (corner_b, -1.0, share[1])):
        closed = math.radians(12)  # slightly into the atrium (positive along)
        opened = math.radians(-80)  # towards the apex
        ang = closed + (opened - closed) * np.asarray(opening, float)
        length = width * frac / math.cos(closed)
        tip = corner + np.stack([np.sin(ang) * length, sign * np.cos(ang) * length], axis=-1)
        out.append(np.stack([corner, tip], axis=1))
    return np.stack(out, axis=1)
