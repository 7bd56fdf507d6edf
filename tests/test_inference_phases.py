"""ED/ES for every beat from a noisy LV curve, and EF per beat, against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.inference.phases import (
    Phases,
    beats_from_volumes,
    detect_phases,
    lv_volumes,
    mean_ef,
    pair_beats,
)
from inference_support import beating_video


def _nearest_errors(found: list[int], truth: list[int]) -> list[int]:
    return [min(abs(f - t) for f in found) for t in truth]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_noisy_asymmetric_curve_every_beat_within_two_frames(seed):
    rng = np.random.default_rng(seed)
    fps, period, frames = 50.0, 43, 300  # about 70 bpm
    # Fast systole (40% of the beat) and slow diastole: ED/ES are not half a period apart.
    t = np.arange(frames)
    start = 7 + seed
    phase_in_beat = ((t - start) % period) / period
    systole = phase_in_beat < 0.4
    shape = np.where(systole, np.cos(np.pi * phase_in_beat / 0.4), -np.cos(np.pi * (phase_in_beat - 0.4) / 0.6))
    curve = 1000 + 250 * shape + rng.normal(0, 25, frames)  # noise 10% of the swing
    # Phases closer to the clip's ends than a quarter beat cannot be confirmed (no turn seen).
    margin = period / 4
    ed_all = [start + n * period for n in range(8)]
    es_all = [start + n * period + round(0.4 * period) for n in range(8)]
    ed_true = [f for f in ed_all if margin < f < frames - margin]
    es_true = [f for f in es_all if margin < f < frames - margin]
    found = detect_phases(curve, fps)
    # Every confirmable phase is found within 2 frames, and nothing is found that is not a phase.
    assert max(_nearest_errors(found.ed_frames, ed_true)) <= 2
    assert max(_nearest_errors(found.es_frames, es_true)) <= 2
    assert max(_nearest_errors(ed_all, found.ed_frames)) <= 2
    assert max(_nearest_errors(es_all, found.es_frames)) <= 2


def test_flat_or_short_curves_give_no_phases():
    assert detect_phases(np.full(50, 3.0), 50) == Phases([], [])
    assert detect_phases(np.array([1.0, 2.0]), 50) == Phases([], [])
    # A single rise without a turn (clip shorter than a beat) is not a phase.
    assert detect_phases(np.linspace(0, 1, 30), 50) == Phases([], [])


def test_ef_per_beat_matches_truth_on_beating_ellipse():
    video, ed_true, es_true, masks = beating_video(frames=70, size=(64, 64), period=20, phase=4)
    spacing = (0.5, 0.3)
    areas = masks.sum(axis=(1, 2)) * spacing[0] * spacing[1]
    phases = detect_phases(areas, fps=50)
    assert phases.ed_frames == ed_true and phases.es_frames == es_true[: len(phases.es_frames)]
    volumes = lv_volumes(masks, spacing)
    beats = beats_from_volumes(phases, volumes)
    assert [(b.ed, b.es) for b in beats] == pair_beats(phases) and len(beats) == 3
    # Semi-axes scale by 1 +- 0.22, so the ellipsoid-like volume ratio ES/ED is (0.78 / 1.22)^3.
    truth = 100 * (1 - (0.78 / 1.22) ** 3)
    for b in beats:
        assert b.ef == pytest.approx(truth, abs=3.0)
        assert b.edv == pytest.approx(volumes[b.ed]) and b.edv > b.esv > 0
    assert mean_ef(beats) == pytest.approx(np.mean([b.ef for b in beats]))


def test_pairs_take_the_first_es_after_each_ed():
    assert pair_beats(Phases([10, 50, 90], [30, 70])) == [(10, 30), (50, 70)]
    assert pair_beats(Phases([10], [5])) == []
