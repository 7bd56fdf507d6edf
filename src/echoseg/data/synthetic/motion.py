"""Cardiac timing: contraction per frame over irregular beats, valve opening, probe drift.

The contraction q(t) is 0 at end-diastole and the beat's amplitude (about 1) at end-systole; the LV
volume decreases strictly with q, so end-diastole frames are the local minima of q and end-systole
frames its local maxima. Each beat has its own length and amplitude (beat-to-beat irregularity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from echoseg.data.synthetic.geometry import smoothstep

RAPID_FILLING = 0.2  # fraction of the cycle after end-systole in which the LV refills quickly
ATRIAL_KICK = 0.15  # fraction of the cycle at its end in which the atrium tops the LV up


@dataclass
class CardiacTiming:
    """q, valve_open: (T,); ed_frames / es_frames: every end-diastole / end-systole inside the video."""

    q: np.ndarray
    valve_open: np.ndarray
    fps: float
    heart_rate: float
    cycle_frames: float
    ed_frames: list[int]
    es_frames: list[int]


def contraction(phase: np.ndarray, systole: float, residual: float) -> np.ndarray:
    """Contraction over one beat (phase in [0, 1)): ejection, rapid filling, diastasis, atrial kick."""
    phase = np.asarray(phase, float)
    eject = 0.5 * (1 - np.cos(math.pi * np.clip(phase / systole, 0, 1)))
    fill_end = systole + RAPID_FILLING
    kick_start = 1.0 - ATRIAL_KICK
    rapid = residual + (1 - residual) * 0.5 * (1 + np.cos(math.pi * np.clip((phase - systole) / RAPID_FILLING, 0, 1)))
    diastasis_end = 0.65 * residual
    slow = residual + (diastasis_end - residual) * np.clip((phase - fill_end) / (kick_start - fill_end), 0, 1)
    kick = diastasis_end * 0.5 * (1 + np.cos(math.pi * np.clip((phase - kick_start) / ATRIAL_KICK, 0, 1)))
    return np.select([phase < systole, phase < fill_end, phase < kick_start], [eject, rapid, slow], kick)


def valve_opening(phase: np.ndarray, systole: float) -> np.ndarray:
    """Mitral/tricuspid opening in [0, 1]: shut in systole and isovolumic relaxation, wide in rapid
    filling, half-closed in diastasis, open again for the atrial kick, shut at end-diastole."""
    phase = np.asarray(phase, float)
    opens = smoothstep((phase - systole - 0.04) / 0.05)
    drifts = 1 - 0.45 * smoothstep((phase - systole - RAPID_FILLING) / 0.1)
    kick = 0.45 * smoothstep((phase - 1 + ATRIAL_KICK) / 0.05)
    shuts = 1 - smoothstep((phase - 0.97) / 0.03)
    return opens * np.minimum(drifts + kick, 1.0) * shuts


def draw_timing(rng: np.random.Generator, frames: int, heart_rate: float | None = None,
                fps: float | None = None) -> CardiacTiming:
    """Heart rate 50-110 bpm at 40-60 fps (frames per cycle varies), irregular beats, random start phase.
    `heart_rate` and `fps` given (both) replace those two draws (the realistic preset draws them).

    The video always starts in diastole with its first end-diastole at least 1.5 frames in and the
    following end-systole at least 2.5 frames before the end, so every video holds one ED -> ES pair
    (short videos get a higher frame rate to fit a beat).
    """
    if heart_rate is None or fps is None:
        heart_rate = rng.uniform(50, 110)
        fps = rng.uniform(40, 60)
    systole = rng.uniform(0.33, 0.42)
    irregular = rng.uniform(0.02, 0.1)
    residual = rng.uniform(0.15, 0.3)
    start = rng.uniform(0.5, 0.97)  # phase of frame 0 within the first beat
    cycle = fps * 60.0 / heart_rate
    longest = (frames - 4.0) / ((1 - 0.5) + systole) / (1 + 2 * irregular)
    cycle = float(np.clip(cycle, 12.0, max(longest, 8.0)))
    # Scanners report whole frame rates; the heart rate follows from the frames per cycle.
    fps = max(round(cycle * heart_rate / 60.0), 1)
    heart_rate = fps * 60.0 / cycle
    start = min(start, 1 - 1.5 / cycle)

    # The first beat keeps the nominal length so the first end-diastole lands where `start` put it.
    lengths, amplitudes, begins = [cycle], [1.0], [-start * cycle]
    begins.append(begins[-1] + cycle)
    while begins[-1] < frames:
        lengths.append(cycle * (1 + irregular * float(np.clip(rng.normal(), -2, 2))))
        amplitudes.append(1 + 0.6 * irregular * float(np.clip(rng.normal(), -2, 2)))
        begins.append(begins[-1] + lengths[-1])
    t = np.arange(frames, dtype=float)
    beat = np.searchsorted(np.array(begins), t, side="right") - 1
    phase = (t - np.array(begins)[beat]) / np.array(lengths)[beat]
    q = np.array(amplitudes)[beat] * contraction(phase, systole, residual)
    valve = valve_opening(phase, systole)

    ed_frames, es_frames = [], []
    for begin, length in zip(begins, lengths, strict=False):
        for event, extreme, found in ((begin, np.argmin, ed_frames), (begin + systole * length, np.argmax, es_frames)):
            if not 0 <= event <= frames - 1:
                continue
            lo = max(math.floor(event - 0.15 * length), 0)
            hi = min(math.ceil(event + 0.15 * length), frames - 1)
            index = lo + int(extreme(q[lo : hi + 1]))
            if 0 < index < frames - 1:  # an extreme on the first or last frame cannot be confirmed
                found.append(index)
    return CardiacTiming(q=q, valve_open=valve, fps=float(fps), heart_rate=float(heart_rate), cycle_frames=cycle,
                         ed_frames=ed_frames, es_frames=es_frames)


def draw_drift(rng: np.random.Generator, q: np.ndarray, scale_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Slow probe drift plus cardiac rocking: shift (T, 2) mm and rotation (T,) radians."""
    frames = len(q)
    walk = np.cumsum(rng.normal(0, 1, (frames, 3)), axis=0)
    walk = gaussian_filter1d(walk, sigma=max(frames / 8, 1.0), axis=0, mode="nearest")
    walk -= walk[0]
    walk /= max(float(np.abs(walk).max()), 1e-6)
    amplitude = rng.uniform(0.3, 1.0, 3) * np.array([2.5 * scale_mm, 2.5 * scale_mm, math.radians(2.5)])
    shift = walk[:, :2] * amplitude[:2]
    shift[:, 0] += rng.uniform(-1.5, 1.5) * scale_mm * q  # the heart swings sideways as it contracts
    turn = walk[:, 2] * amplitude[2] + math.radians(rng.uniform(-1.5, 1.5)) * q
    return shift, turn
