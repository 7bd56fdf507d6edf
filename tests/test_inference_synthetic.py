"""ED/ES per beat and EF per beat against the synthetic generator's truth; predict on its EchoNet layout."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from echoseg.data.synthetic import generate_video
from echoseg.data.synthetic.writers import write_echonet
from echoseg.geometry.disks import ejection_fraction
from echoseg.inference.phases import Phases, beats_from_volumes, detect_phases, pair_beats
from inference_support import one_torch_thread  # noqa: F401 (fixture, used through pytestmark)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRAMES = 64
EDGE = 6  # phases this close to a clip's ends may be cut short and legitimately missed


@pytest.fixture(scope="module")
def medium_videos():
    return [generate_video(seed, frames=FRAMES, size=112, difficulty="medium") for seed in range(12)]


def test_phases_from_truth_area_curves_within_two_frames(medium_videos):
    """Every phase found is within 2 frames of a true one; every true phase away from the ends is found."""
    worst, found_total = 0, 0
    for video in medium_videos:
        sample, truth = video.sample, video.truth
        masks = np.stack([sample.masks[t] for t in range(sample.n_frames)])
        areas = masks.sum(axis=(1, 2)) * sample.spacing_mm[0] * sample.spacing_mm[1]
        found = detect_phases(areas, sample.fps)
        for detected, true in ((found.ed_frames, truth.ed_frames), (found.es_frames, truth.es_frames)):
            for frame in detected:
                worst = max(worst, min(abs(frame - t) for t in true))
            for t in true:
                if EDGE <= t < FRAMES - EDGE:
                    assert min([abs(t - f) for f in detected] or [99]) <= 2, (sample.case_id, detected, true)
            found_total += len(detected)
    assert worst <= 2 and found_total >= 30


def test_ef_per_beat_matches_the_truth_volumes(medium_videos):
    n_beats = 0
    for video in medium_videos:
        sample, truth = video.sample, video.truth
        masks = np.stack([sample.masks[t] for t in range(sample.n_frames)])
        phases = detect_phases(masks.sum(axis=(1, 2)).astype(float), sample.fps)
        true_beats = {pair: ejection_fraction(truth.volumes[pair[0]], truth.volumes[pair[1]])
                      for pair in pair_beats(Phases(truth.ed_frames, truth.es_frames))}
        for beat in beats_from_volumes(phases, truth.volumes):
            match = [ef for (ed, es), ef in true_beats.items() if abs(ed - beat.ed) <= 2 and abs(es - beat.es) <= 2]
            assert match, (sample.case_id, beat)
            assert beat.ef == pytest.approx(match[0], abs=1.0)
            n_beats += 1
        if phases.ed_frames and phases.ed_frames[0] == truth.ed_frames[0] and phases.es_frames:
            assert beats_from_volumes(phases, truth.volumes)[0].ef == pytest.approx(truth.ef, abs=1.0)
    assert n_beats >= 12


def test_predict_on_the_generators_echonet_filelist(tmp_path):
    """Plumbing with a registered (untrained) network: FileList -> every listed video predicted once."""
    from echoseg.inference.predict import PredictSettings, predict_videos
    from echoseg.inference.segmenter import Segmenter
    from echoseg.models.registry import create_model

    videos = [generate_video(seed, frames=16, size=64, difficulty="easy") for seed in range(2)]
    write_echonet(tmp_path / "echonet", videos)
    model = create_model("sscf", width=0.125).eval()
    report = predict_videos([tmp_path / "echonet" / "FileList.csv"], Segmenter(model, (64, 64), batch_size=8),
                            tmp_path / "out", PredictSettings(progress=False, overlay=False))
    assert report.n_done == 2 and not report.errors
    with open(tmp_path / "out" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frames"]) for r in rows] == [16, 16]
    assert [float(r["fps"]) for r in rows] == pytest.approx([v.sample.fps for v in videos], abs=0.5)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ECHOSEG_TEST_CHECKPOINT"),
                    reason="set ECHOSEG_TEST_CHECKPOINT to a trained run (e.g. the CPU preset on synthetic medium data)")
def test_trained_model_phases_within_two_frames_of_truth(tmp_path):
    """With a trained checkpoint: ED/ES from predicted masks on unseen medium videos vs the generator's truth."""
    from echoseg.data.synthetic.writers import write_avi
    from echoseg.inference.predict import PredictSettings, predict_videos
    from echoseg.inference.segmenter import load_segmenter

    segmenter = load_segmenter(os.environ["ECHOSEG_TEST_CHECKPOINT"])
    # EchoNet-sized frames, as the model was trained on (predict resizes them to its input size).
    videos = [generate_video(10_000 + seed, frames=FRAMES, size=112, difficulty="medium")
              for seed in range(8)]
    for video in videos:
        write_avi(tmp_path / "in" / f"{video.sample.case_id}.avi", video.sample.video, video.sample.fps)
    report = predict_videos([tmp_path / "in"], segmenter, tmp_path / "out", PredictSettings(progress=False, overlay=False))
    assert not report.errors
    rows = {r["name"]: r for r in report.rows}
    errors = []
    for video in videos:
        row, truth = rows[video.sample.case_id], video.truth
        for column, true in (("ed_frames", truth.ed_frames), ("es_frames", truth.es_frames)):
            errors += [min(abs(int(f) - t) for t in true) for f in row[column].split()]
    assert errors and max(errors) <= 2, errors
