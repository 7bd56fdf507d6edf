"""How plausible predicted LV masks are when no tracing exists: label-free checks of a whole video.

A user's own videos have no tracings, so a model adapted to them (`echoseg adapt`) cannot be scored
by Dice. What can be checked is whether its masks behave like a beating left ventricle:

- `present`: share of frames with a mask at all;
- `single`: share of those masks that are one connected piece (the cavity is one blob; a second piece
  is another chamber or a stray island);
- `temporal_dice`: mean Dice between the masks of consecutive frames (the cavity moves smoothly; a mask
  that jumps to another chamber or flickers scores low);
- `periodicity`: the area curve's autocorrelation at its strongest lag for a heart rate of 40-150 bpm
  (1: perfectly periodic, noise: about 0);
- `jitter`: the area curve's frame-to-frame noise (robust estimate from its second differences, which a
  smooth beat barely has), as a share of its 5-95 percentile swing (lower is better);
- `ef_counted`: 1 when at least one beat gives an EF that counts (`echoseg.inference.phases`);
- `ef`: that EF (NaN when none counts). Not part of the score: no tracing says which EF is right, but
  `echoseg adapt` compares it between models (a model that moves every video's EF is suspect).

`VideoPlausibility.score` averages present x single, temporal_dice, periodicity (negative as 0) and
ef_counted into one number in [0, 1]. None of these proves a mask right (a model can be consistently
wrong), so they guard against a change that makes masks less heart-like; they do not replace Dice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.ndimage import gaussian_filter1d

from echoseg.inference.phases import DEFAULT_FPS, beats_from_volumes, detect_phases, flag_beats, lv_volumes, video_ef

HEART_RATE_BPM = (40.0, 150.0)  # the lags the periodicity looks at
MIN_CURVE_FRAMES = 20


@dataclass
class VideoPlausibility:
    present: float
    single: float
    temporal_dice: float
    periodicity: float
    jitter: float
    ef_counted: float
    ef: float = float("nan")

    @property
    def score(self) -> float:
        parts = [self.present * self.single, self.temporal_dice, max(self.periodicity, 0.0), self.ef_counted]
        return float(np.mean([0.0 if not np.isfinite(p) else p for p in parts]))

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "score": self.score}


def curve_quality(area: np.ndarray, fps: float | None = None) -> tuple[float, float]:
    """(periodicity, jitter) of a per-frame area curve float (T,); NaN where it is too short or flat."""
    area = np.asarray(area, dtype=float)
    fps = fps or DEFAULT_FPS
    if len(area) < MIN_CURVE_FRAMES:
        return float("nan"), float("nan")
    lo, hi = np.percentile(area, [5, 95])
    if hi - lo <= 0:
        return float("nan"), float("nan")
    # White noise of SD s gives second differences of SD sqrt(6) s; 1.4826 x MAD estimates an SD robustly.
    jitter = float(1.4826 * np.median(np.abs(np.diff(area, 2))) / np.sqrt(6) / (hi - lo))
    x = gaussian_filter1d(area, 2.0, mode="nearest")
    x = x - x.mean()
    n = len(x)
    shortest, longest = int(fps * 60 / HEART_RATE_BPM[1]), min(n - 2, int(fps * 60 / HEART_RATE_BPM[0]))
    if longest < max(shortest, 1):
        return float("nan"), jitter
    lags = np.arange(max(shortest, 1), longest + 1)
    ac = np.correlate(x, x, mode="full")[n - 1:]
    # Unbiased: the raw autocorrelation at lag L sums n - L products.
    corrected = ac[lags] / max(ac[0], 1e-12) * n / (n - lags)
    return float(np.clip(corrected.max(), -1.0, 1.0)), jitter


def video_plausibility(masks: np.ndarray, fps: float | None = None) -> VideoPlausibility:
    """The label-free checks of bool masks (T, H, W) of every frame of one video (see module doc)."""
    masks = np.asarray(masks, dtype=bool)
    t = len(masks)
    areas = masks.reshape(t, -1).sum(axis=1).astype(float)
    present = areas > 0
    pieces = [ndimage.label(m)[1] for m in masks[present]]
    single = float(np.mean([p == 1 for p in pieces])) if pieces else 0.0
    inter = (masks[1:] & masks[:-1]).reshape(max(t - 1, 0), -1).sum(axis=1)
    total = areas[1:] + areas[:-1]
    dice = np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)
    periodicity, jitter = curve_quality(areas, fps)
    beats = flag_beats(beats_from_volumes(detect_phases(areas, fps), lv_volumes(masks, None)), fps)
    ef = video_ef(beats)
    return VideoPlausibility(present=float(present.mean()) if t else 0.0, single=single,
                             temporal_dice=float(dice.mean()) if len(dice) else float("nan"),
                             periodicity=periodicity, jitter=jitter, ef_counted=float(ef.used > 0), ef=ef.ef)


def summarise(videos: list[VideoPlausibility]) -> dict[str, float]:
    """Mean of each check and of the score over videos (NaNs left out)."""
    if not videos:
        return {}
    rows = [v.to_dict() for v in videos]
    return {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}
