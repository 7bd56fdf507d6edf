"""ED/ES for every beat from a noisy LV curve, and EF per beat, against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.inference.phases import (
    Beat,
    Phases,
    beats_from_volumes,
    detect_phases,
    flag_beats,
    lv_volumes,
    mean_ef,
    pair_beats,
    video_ef,
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


def _beat(ed, es, edv, esv):
    return Beat(ed, es, edv, esv, 100.0 * (edv - esv) / edv)


def test_impossible_beats_are_left_out_of_the_video_ef_with_the_reason():
    beats = flag_beats([_beat(10, 25, 100, 40),  # EF 60: fine
                        _beat(60, 75, 100, 120),  # ESV > EDV: EF -20
                        _beat(110, 125, 100, 3),  # EF 97: implausible
                        _beat(160, 162, 100, 45),  # ES 0.04 s after ED at 50 fps
                        _beat(210, 225, 100, 44)], fps=50)
    assert [b.excluded.split(" ")[0] for b in beats] == ["", "ESV", "EF", "ED->ES", ""]
    assert "outside 10-85" in beats[2].excluded and "0.04 s" in beats[3].excluded
    result = video_ef(beats)
    assert result.ef == pytest.approx(58.0) and (result.used, result.total) == (2, 5)
    assert result.quality.startswith("check:") and "3 of 5 beats left out" in result.quality
    assert mean_ef(beats) == pytest.approx(58.0)


def test_no_negative_ef_is_ever_reported():
    result = video_ef(flag_beats([_beat(10, 25, 100, 130), _beat(60, 75, 80, 95)], fps=50))
    assert np.isnan(result.ef) and result.used == 0
    assert result.quality.startswith("no EF") and "ESV >= EDV" in result.quality
    assert video_ef([]).quality == "no EF: no complete ED->ES beat"


def test_an_outlier_beat_is_left_out_and_disagreeing_beats_are_flagged():
    beats = flag_beats([_beat(10, 25, 100, 40), _beat(60, 75, 100, 42), _beat(110, 125, 100, 75),
                        _beat(160, 175, 100, 39)], fps=50)
    assert [bool(b.excluded) for b in beats] == [False, False, True, False]
    assert "points from the other beats" in beats[2].excluded
    ok = video_ef(beats)
    assert ok.quality == "ok" and ok.ef == pytest.approx(np.mean([60, 58, 61]))
    # Two beats cannot outvote each other: both count, and the video is marked for a look.
    pair = video_ef(flag_beats([_beat(10, 25, 100, 30), _beat(60, 75, 100, 65)], fps=50))
    assert pair.used == 2 and pair.quality.startswith("check: beats disagree")
