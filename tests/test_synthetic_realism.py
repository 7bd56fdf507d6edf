"""The realistic appearance preset: statistics within range of real EchoNet-Dynamic video, EchoNet-like
draws, exact truth, determinism, coloured marks; and the comparison code itself."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from echoseg.data.synthetic import DIFFICULTIES, generate_video, iter_dataset, write_echonet
from echoseg.data.synthetic.generator import draw_echonet_ef, draw_echonet_rate
from echoseg.data.synthetic.realism import Comparison, compare, dataset_statistics, reference_statistics
from echoseg.geometry.disks import ejection_fraction, monoplane_volume


@pytest.fixture(scope="module")
def realistic_set():
    """8 realistic videos (lengths drawn, 100-250 frames), as `echoseg synth --difficulty realistic` makes them."""
    return list(iter_dataset(8, 0, difficulty="realistic"))


@pytest.fixture(scope="module")
def realistic_echonet(tmp_path_factory, realistic_set):
    """The 8 videos in EchoNet layout."""
    return write_echonet(tmp_path_factory.mktemp("realistic"), realistic_set)


def test_small_realistic_set_is_within_one_sd_of_real_echonet(realistic_echonet):
    # A fast version of `python benchmarks/bench_realism.py`: every statistic the reference has, measured
    # as the reference was, within |z| <= 1 of real EchoNet-Dynamic (z = difference / real SD).
    rows = compare(dataset_statistics(realistic_echonet))
    reference = reference_statistics()
    assert {r.statistic for r in rows} == {k for k, v in reference.items() if isinstance(v, dict)}
    outside = [(r.statistic, round(r.mean, 3), r.real_mean, round(r.z, 2)) for r in rows if abs(r.z) > 1.0]
    assert not outside, f"statistics more than 1 SD from real EchoNet: {outside}"


def test_medium_preset_is_far_from_real_echonet(tmp_path):
    # The comparison can fail: the classic medium preset (bright walls, small high LV) is flagged.
    write_echonet(tmp_path, iter_dataset(3, 0, frames=20, difficulty="medium"))
    z = {r.statistic: r.z for r in compare(dataset_statistics(tmp_path))}
    assert z["wall_ring_mean"] > 1.5 and z["lv_centroid_y"] < -2


def test_ef_and_rates_are_drawn_like_echonet():
    rng = np.random.default_rng(0)
    ef = np.array([draw_echonet_ef(rng) for _ in range(20000)])
    assert ef.mean() == pytest.approx(55.7, abs=0.6) and ef.std() == pytest.approx(12.4, abs=0.6)
    assert (ef < 40).mean() == pytest.approx(0.126, abs=0.01) and 10 < ef.min() and ef.max() <= 80
    rates = np.array([draw_echonet_rate(rng) for _ in range(5000)])
    assert np.median(rates[:, 1]) == 50 and rates[:, 1].mean() == pytest.approx(51.1, abs=0.6)
    assert rates[:, 0].mean() == pytest.approx(72, abs=1.5) and 45 <= rates[:, 0].min()


def test_realistic_lengths_are_drawn_and_a_given_length_is_kept(realistic_set):
    lengths = {v.sample.n_frames for v in realistic_set}
    assert all(100 <= n <= 250 for n in lengths) and len(lengths) >= 6
    assert generate_video(0, difficulty="realistic", size=48, frames=20).sample.n_frames == 20
    assert generate_video(0, size=48).sample.n_frames == 64  # classic presets: 64 by default


def test_realistic_same_seed_same_bytes_other_seed_differs():
    a, b = (generate_video(5, difficulty="realistic", frames=24, size=64) for _ in range(2))
    c = generate_video(6, difficulty="realistic", frames=24, size=64)
    assert np.array_equal(a.sample.video, b.sample.video) and np.array_equal(a.truth.labels, b.truth.labels)
    assert np.array_equal(a.truth.overlay[1], b.truth.overlay[1])
    assert not np.array_equal(a.sample.video, c.sample.video)


@pytest.mark.parametrize("seed", [1, 4])
def test_realistic_truth_stays_exact(seed):
    v = generate_video(seed, difficulty="realistic", frames=48)
    s = v.sample
    edv, esv = monoplane_volume(s.masks[s.ed], s.spacing_mm), monoplane_volume(s.masks[s.es], s.spacing_mm)
    assert ejection_fraction(edv, esv) == pytest.approx(v.truth.ef, abs=2.0)
    assert all(np.array_equal(s.masks[i], v.truth.labels[i] == 1) for i in range(s.n_frames))
    # EchoNet-like placement: the LV centroid near mid-height, right of centre.
    ys, xs = np.nonzero(s.masks[s.ed])
    assert 0.42 < ys.mean() / 112 < 0.62 and 0.48 < xs.mean() / 112 < 0.66


def test_realistic_tracings_rebuild_the_masks(realistic_echonet, realistic_set):
    with open(realistic_echonet / "VolumeTracings.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for v in realistic_set:
        for frame in (v.sample.ed, v.sample.es):
            chosen = [r for r in rows if r["FileName"] == f"{v.sample.case_id}.avi" and int(r["Frame"]) == frame]
            x1, y1, x2, y2 = (np.array([float(r[k]) for r in chosen]) for k in ("X1", "Y1", "X2", "Y2"))
            points = np.concatenate([np.stack([x1[1:], y1[1:]], 1), np.stack([x2[1:], y2[1:]], 1)[::-1]])
            mask = np.zeros((112, 112), np.uint8)
            cv2.fillPoly(mask, [np.rint(points).astype(np.int32)], 1)
            truth = v.sample.masks[frame]
            assert 2 * (mask.astype(bool) & truth).sum() / (mask.sum() + truth.sum()) >= 0.97


def test_colour_marks_lie_outside_the_fan_and_reach_the_avi(realistic_echonet, realistic_set):
    def chroma(video) -> int:
        mask, bgr = video.truth.overlay
        return int(np.abs(bgr[mask].astype(int) - bgr[mask].mean(axis=1, keepdims=True)).max())

    # Marks are drawn in many colours, some nearly grey, which MJPG's chroma subsampling may flatten: the
    # AVI is checked on the most colourful video's marks.
    v = max(realistic_set, key=chroma)
    mask, bgr = v.truth.overlay
    moving = v.sample.video.std(axis=0) > 0  # the fan: speckle changes from frame to frame
    assert mask.any() and not (mask & moving).any()
    assert chroma(v) > 3
    # The grey video carries the marks' luminance; the AVI their colour.
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(v.sample.video[0][mask], grey[mask])
    capture = cv2.VideoCapture(str(realistic_echonet / "Videos" / f"{v.sample.case_id}.avi"))
    ok, frame = capture.read()
    capture.release()
    assert ok and np.abs(frame[..., 0].astype(int) - frame[..., 1])[mask].max() > 5


def test_compare_uses_a_floor_for_near_constant_statistics():
    reference = {"a": {"mean": 10.0, "sd": 2.0}, "b": {"mean": 100.0, "sd": 0.1}, "source": "x"}
    ours = {"a": {"mean": 13.0, "sd": 1.0}, "b": {"mean": 105.0, "sd": 1.0}, "videos": 3}
    rows = compare(ours, reference)
    assert rows == [Comparison("a", 13.0, 1.0, 10.0, 2.0, 1.5), Comparison("b", 105.0, 1.0, 100.0, 0.1, 1.0)]


def test_synth_command_offers_every_preset():
    from echoseg.commands.synth import APPEARANCES

    assert set(APPEARANCES) == set(DIFFICULTIES) and "realistic" in DIFFICULTIES


def test_beam_grid_density_is_a_preset_field_whose_defaults_keep_the_grid():
    """The finer-speckle experiment (benchmarks/experiments/texture_bands.py) densifies the beam grid through
    the preset; the defaults must keep every preset's grid, hence its picture and random stream."""
    import dataclasses

    from echoseg.data.synthetic.imaging import PRESETS, make_sector

    preset = PRESETS["realistic"]
    default = make_sector(np.random.default_rng(3), 112, None, preset)
    denser = make_sector(np.random.default_rng(3), 112, None,
                         dataclasses.replace(preset, beams_per_px=1.5, depth_samples_per_px=1.6))
    assert default.n_beams == 112
    assert denser.n_beams == 168
    assert denser.n_depth == pytest.approx(default.n_depth * 1.6 / 1.3, abs=1)
    assert np.array_equal(default.inside, denser.inside)  # same fan: the draws do not depend on the grid


def test_septal_loss_is_drawn_from_a_range_whose_default_draws_nothing(monkeypatch):
    """ef_stress.py and the recipe variants set scene.SEPTAL_LOSS; (0, 0) must keep revision 3's picture and
    random stream, and a range that makes the septum lose must change the picture."""
    from echoseg.data.synthetic import scene

    default = generate_video(11, frames=16, difficulty="realistic").sample.video
    monkeypatch.setattr(scene, "SEPTAL_LOSS", (0.0, 0.0))
    assert np.array_equal(generate_video(11, frames=16, difficulty="realistic").sample.video, default)
    monkeypatch.setattr(scene, "SEPTAL_LOSS", (1.0, 1.0))
    assert not np.array_equal(generate_video(11, frames=16, difficulty="realistic").sample.video, default)
