"""Label-free checks of predicted masks: a beating LV scores high, flicker and stray pieces score low."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.evaluation.plausibility import curve_quality, summarise, video_plausibility
from inference_support import beating_video


def test_a_beating_cavity_is_plausible():
    _, _, _, masks = beating_video(frames=120, period=20, phase=4)
    checks = video_plausibility(masks, fps=25)  # 75 bpm
    assert checks.present == 1.0 and checks.single == 1.0 and checks.ef_counted == 1.0
    assert checks.temporal_dice > 0.9 and checks.periodicity > 0.9 and checks.jitter < 0.03
    assert checks.score > 0.95


def test_flicker_between_chambers_and_stray_pieces_are_not():
    _, _, _, masks = beating_video(frames=120, period=20, phase=4)
    rng = np.random.default_rng(0)
    bad = masks.copy()
    jumps = rng.random(len(bad)) < 0.5
    bad[jumps] = np.roll(bad[jumps], 14, axis=2)  # half the frames segment a chamber beside the LV
    bad[::3, 2:5, 2:5] = True  # and a stray island on every third frame
    good, worse = video_plausibility(masks, fps=25), video_plausibility(bad, fps=25)
    assert worse.temporal_dice < good.temporal_dice - 0.2
    assert worse.single == pytest.approx(2 / 3, abs=0.02)
    assert worse.score < good.score - 0.15
    empty = video_plausibility(np.zeros_like(masks), fps=25)
    assert empty.present == 0.0 and empty.ef_counted == 0.0 and empty.score < 0.3


def test_curve_quality_on_known_curves():
    t = np.arange(200)
    clean = 1000 + 200 * np.cos(2 * np.pi * t / 40)  # 75 bpm at 50 fps
    periodicity, jitter = curve_quality(clean, 50)
    assert periodicity > 0.95 and jitter < 0.01
    noise = np.random.default_rng(1).normal(1000, 200, 200)
    periodicity, jitter = curve_quality(noise, 50)
    assert periodicity < 0.5 and jitter > 0.1
    assert np.isnan(curve_quality(clean[:10], 50)[0])
    assert summarise([]) == {}
