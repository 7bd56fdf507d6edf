"""End-diastole / end-systole for every beat from the LV area (or volume) curve, and EF per beat.

ED is where the cavity is largest, ES where it is smallest. The curve is smoothed (Gaussian, width
from the frame rate, then from the beat length), peaks and troughs are found with `scipy.signal.find_peaks` using a prominence
relative to the curve's robust range (so speckle and segmentation jitter are ignored) and a minimum
distance from the highest plausible heart rate, then forced to alternate ED, ES, ED, ... (of two
neighbours of the same kind the more extreme one stays). A phase cut short by the clip's start or
end is judged on its complete side (`_edge_events`). The first and last frames themselves are never
reported: a clip that starts mid-beat must not invent a phase there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from echoseg.geometry.disks import ejection_fraction
from echoseg.geometry.volumes import volume_curve

DEFAULT_FPS = 50.0  # EchoNet's typical rate, used when a video does not say


@dataclass
class Phases:
    """Phase frames of one video: ed_frames, es_frames sorted ascending (0-based frame indices)."""

    ed_frames: list[int]
    es_frames: list[int]


# EF a beat may have: 99.8% of EchoNet-Dynamic's 10,030 FileList EFs lie in 10-85 (0.09% below 10,
# 0.10% above 85). A beat outside it is far likelier a segmentation or phase error than a heart.
PLAUSIBLE_EF = (10.0, 85.0)
# ED -> ES time: systole lasts about 0.2-0.45 s at heart rates of 40-180 bpm.
PLAUSIBLE_SYSTOLE_S = (0.1, 0.6)
# A beat whose EF is this far from the median of the video's other beats is an outlier (3+ beats).
OUTLIER_EF_POINTS = 15.0
# The video's EF is flagged for checking when its beats disagree by more than this SD (points).
BEAT_EF_SD_CHECK = 10.0


@dataclass
class Beat:
    """One beat: an ED and the ES that follows it, with volumes and EF (NaN when EDV is 0).

    excluded: why this beat is left out of the video's EF ("" when it counts), see `flag_beats`.
    """

    ed: int
    es: int
    edv: float
    esv: float
    ef: float
    excluded: str = ""

    @property
    def counts(self) -> bool:
        return not self.excluded and math.isfinite(self.ef)


@dataclass
class VideoEF:
    """A video's EF from its beats: ef (NaN when no beat counts; never negative), the beats used, and a
    quality flag: "ok", "check: <why>" (a number worth a look) or "no EF: <why>"."""

    ef: float
    used: int
    total: int
    quality: str


def detect_phases(
    curve: np.ndarray,
    fps: float | None = None,
    *,
    max_heart_rate_bpm: float = 180.0,
    rel_prominence: float = 0.25,
    smooth_s: float = 0.04,
    smooth_beat_fraction: float = 0.07,
) -> Phases:
    """ED (peaks) and ES (troughs) of a per-frame LV size curve, float (T,).

    fps: frame rate (DEFAULT_FPS when None). max_heart_rate_bpm: two EDs (or two ESs) are at least one
    beat at this rate apart. rel_prominence: a peak must stand out by this fraction of the curve's
    5-95 percentile range. Smoothing is two-pass: a Gaussian of `smooth_s` seconds finds the beats,
    then the curve is smoothed again with sigma = `smooth_beat_fraction` of the median beat length
    (slow beats have long flat stretches where noise would otherwise pick the frame) and the phases
    are found again.
    """
    curve = np.asarray(curve, dtype=float)
    if curve.ndim != 1:
        raise ValueError(f"curve must be 1-D, got shape {curve.shape}")
    if len(curve) < 3 or not np.isfinite(curve).all():
        return Phases([], [])
    fps = fps or DEFAULT_FPS
    min_beat = max(1.0, 60.0 * fps / max_heart_rate_bpm)
    first = _find_phases(curve, max(smooth_s * fps, 0.5), rel_prominence, min_beat)
    intervals = np.diff(first.ed_frames).tolist() + np.diff(first.es_frames).tolist()
    if not intervals:
        return first
    sigma = max(smooth_beat_fraction * float(np.median(intervals)), 0.5)
    return _refine(_find_phases(curve, sigma, rel_prominence, min_beat), curve, sigma)


def _refine(phases: Phases, curve: np.ndarray, sigma: float, max_noise: float = 0.02) -> Phases:
    """On a clean curve, move each phase to the extreme of a lightly smoothed curve within +-sigma/2.

    Heavy smoothing shifts an asymmetric extreme (steep ejection after ED, slow filling after ES)
    towards the gentler side by about a frame. On a clean curve (residual noise below `max_noise`
    of the swing) the lightly smoothed curve has the right position; on a noisy one it would trade
    that bias for noise, so the phases stay where they are.
    """
    smooth = gaussian_filter1d(curve, sigma, mode="nearest")
    lo, hi = np.percentile(smooth, [5, 95])
    # Noise level from second differences (a smooth curve has almost none): std(d2) = sqrt(6) sd.
    noise = 1.4826 * float(np.median(np.abs(np.diff(curve, 2)))) / np.sqrt(6) if len(curve) > 2 else 0.0
    if hi <= lo or noise > max_noise * (hi - lo):
        return phases
    light = gaussian_filter1d(curve, max(sigma / 2, 0.5), mode="nearest")
    radius = max(1, int(round(sigma / 2)))
    last = len(curve) - 1

    def best(frame: int, sign: float) -> int:
        a, b = max(1, frame - radius), min(last, frame + radius + 1)
        return a + int(np.argmax(sign * light[a:b])) if b > a else frame

    return Phases([best(f, 1.0) for f in phases.ed_frames], [best(f, -1.0) for f in phases.es_frames])


def _find_phases(curve: np.ndarray, sigma: float, rel_prominence: float, min_beat: float,
                 edge_rise: float = 0.05) -> Phases:
    smooth = gaussian_filter1d(curve, sigma, mode="nearest")
    lo, hi = np.percentile(smooth, [5, 95])
    spread = hi - lo
    if spread <= 1e-9 * max(abs(hi), 1.0):
        return Phases([], [])
    kwargs = {"prominence": rel_prominence * spread, "distance": min_beat}
    peaks, _ = find_peaks(smooth, **kwargs)
    troughs, _ = find_peaks(-smooth, **kwargs)
    events = _alternate(sorted([(int(i), "ed") for i in peaks] + [(int(i), "es") for i in troughs]), smooth)
    events = _edge_events(events, smooth, rel_prominence * spread, edge_rise * spread)
    return Phases(ed_frames=[f for f, kind in events if kind == "ed"],
                  es_frames=[f for f, kind in events if kind == "es"])


def _edge_events(events: list[tuple[int, str]], smooth: np.ndarray, swing: float, rise: float) -> list[tuple[int, str]]:
    """Add the phase cut short by the clip's start or end, judged on its one complete side.

    find_peaks measures prominence against the lower of the two sides, so an ED 10 frames into a clip
    that starts in late diastole is missed although the full systole after it is seen. Before the
    first event (after the last), the extreme of the opposite kind is accepted when it swings by
    `swing` to that event and turns by at least `rise` towards the clip's edge (so it is a real turn,
    not a monotonic slope ending at the edge).
    """
    if not events:
        return events
    sign = {"ed": 1.0, "es": -1.0}
    other = {"ed": "es", "es": "ed"}
    out = list(events)
    first, kind = out[0]
    cand_kind = other[kind]
    if first > 1:
        seg = sign[cand_kind] * smooth[:first]
        cand = int(np.argmax(seg))
        if 0 < cand and seg[cand] - seg[0] >= rise and seg[cand] - sign[cand_kind] * smooth[first] >= swing:
            out.insert(0, (cand, cand_kind))
    last, kind = out[-1]
    cand_kind = other[kind]
    if last < len(smooth) - 2:
        seg = sign[cand_kind] * smooth[last + 1:]
        cand = int(np.argmax(seg))
        if cand < len(seg) - 1 and seg[cand] - seg[-1] >= rise and seg[cand] - sign[cand_kind] * smooth[last] >= swing:
            out.append((last + 1 + cand, cand_kind))
    return out


def _alternate(events: list[tuple[int, str]], curve: np.ndarray) -> list[tuple[int, str]]:
    """Collapse runs of the same kind to their most extreme member, so phases alternate."""
    out: list[tuple[int, str]] = []
    for frame, kind in events:
        if out and out[-1][1] == kind:
            prev = out[-1][0]
            better = curve[frame] > curve[prev] if kind == "ed" else curve[frame] < curve[prev]
            if better:
                out[-1] = (frame, kind)
        else:
            out.append((frame, kind))
    return out


def pair_beats(phases: Phases) -> list[tuple[int, int]]:
    """(ED, ES) pairs: each ED with the first ES after it and before the next ED."""
    pairs = []
    eds = sorted(phases.ed_frames)
    for i, ed in enumerate(eds):
        nxt = eds[i + 1] if i + 1 < len(eds) else np.inf
        following = [es for es in phases.es_frames if ed < es < nxt]
        if following:
            pairs.append((ed, following[0]))
    return pairs


def lv_volumes(masks: np.ndarray, spacing_mm: tuple[float, float] | None) -> np.ndarray:
    """Monoplane method-of-disks volume of every mask, bool (T, H, W) -> float (T,) (ml, or px^3)."""
    return volume_curve(masks, spacing_mm, method="disks")


def beats_from_volumes(phases: Phases, volumes: np.ndarray) -> list[Beat]:
    """EF for each beat (ED and the following ES) from the per-frame volume curve."""
    beats = []
    for ed, es in pair_beats(phases):
        edv, esv = float(volumes[ed]), float(volumes[es])
        beats.append(Beat(ed=ed, es=es, edv=edv, esv=esv, ef=ejection_fraction(edv, esv)))
    return beats


def mean_ef(beats: list[Beat]) -> float:
    """Mean EF over the beats that count (`Beat.counts`); NaN when there is none."""
    values = [b.ef for b in beats if b.counts]
    return float(np.mean(values)) if values else float("nan")


def flag_beats(beats: list[Beat], fps: float | None = None) -> list[Beat]:
    """The same beats with `excluded` set where a beat cannot be a heart's: ESV >= EDV, EF outside
    PLAUSIBLE_EF, systole outside PLAUSIBLE_SYSTOLE_S, or (with 3+ plausible beats) EF more than
    OUTLIER_EF_POINTS from the median of the others."""
    fps = fps or DEFAULT_FPS
    out = []
    for b in beats:
        systole_s = (b.es - b.ed) / fps
        if not (math.isfinite(b.ef) and b.edv > 0):
            why = "no volume at ED"
        elif b.esv >= b.edv:
            why = "ESV >= EDV"
        elif not PLAUSIBLE_EF[0] <= b.ef <= PLAUSIBLE_EF[1]:
            why = f"EF {b.ef:.0f} outside {PLAUSIBLE_EF[0]:.0f}-{PLAUSIBLE_EF[1]:.0f}"
        elif not PLAUSIBLE_SYSTOLE_S[0] <= systole_s <= PLAUSIBLE_SYSTOLE_S[1]:
            why = f"ED->ES {systole_s:.2f} s outside {PLAUSIBLE_SYSTOLE_S[0]}-{PLAUSIBLE_SYSTOLE_S[1]} s"
        else:
            why = ""
        out.append(Beat(b.ed, b.es, b.edv, b.esv, b.ef, why))
    plausible = [i for i, b in enumerate(out) if b.counts]
    if len(plausible) >= 3:
        for i in plausible:
            others = np.median([out[j].ef for j in plausible if j != i])
            if abs(out[i].ef - others) > OUTLIER_EF_POINTS:
                out[i].excluded = f"EF {out[i].ef:.0f} is {abs(out[i].ef - others):.0f} points from the other beats"
    return out


def video_ef(beats: list[Beat]) -> VideoEF:
    """The video's EF: the mean over the beats that count, with a quality flag (see VideoEF)."""
    used = [b for b in beats if b.counts]
    if not beats:
        return VideoEF(float("nan"), 0, 0, "no EF: no complete ED->ES beat")
    if not used:
        reasons = sorted({b.excluded for b in beats})
        return VideoEF(float("nan"), 0, len(beats), "no EF: every beat left out (" + "; ".join(reasons) + ")")
    ef = float(np.mean([b.ef for b in used]))
    checks = []
    if len(used) >= 2 and np.std([b.ef for b in used], ddof=1) > BEAT_EF_SD_CHECK:
        checks.append(f"beats disagree (EF SD {np.std([b.ef for b in used], ddof=1):.0f})")
    if len(used) * 2 < len(beats):
        checks.append(f"{len(beats) - len(used)} of {len(beats)} beats left out")
    quality = "check: " + "; ".join(checks) if checks else "ok"
    return VideoEF(ef, len(used), len(beats), quality)
