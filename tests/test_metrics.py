"""Metrics on hand-made masks whose answers are worked out by hand."""

import math

import numpy as np
import pytest

from echoseg.evaluation.metrics import (
    SegmentationMetrics,
    dice_iou,
    hausdorff,
    hausdorff_pair,
    pooled_dice,
    roc_auc,
    temporal_consistency,
)


def _square(shape, y0, x0, size):
    m = np.zeros(shape, bool)
    m[y0 : y0 + size, x0 : x0 + size] = True
    return m


def test_dice_and_iou_of_two_overlapping_squares():
    # 4x4 squares offset by (2, 2): overlap 2x2 = 4 px; Dice = 2*4/(16+16), IoU = 4/(16+16-4).
    a, b = _square((10, 10), 0, 0, 4), _square((10, 10), 2, 2, 4)
    dice, iou = dice_iou(a, b)
    assert dice[0] == pytest.approx(0.25)
    assert iou[0] == pytest.approx(4 / 28)


def test_hausdorff_with_anisotropic_spacing_uses_array_axis_order():
    # Single pixels at (row 0, col 0) and (row 3, col 4): with (dy, dx) = (2, 1) mm the distance is
    # sqrt((3*2)^2 + (4*1)^2) = sqrt(52); swapping the axes would give sqrt(73).
    a, b = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    a[0, 0], b[3, 4] = True, True
    assert hausdorff(a, b, (2.0, 1.0))[0] == pytest.approx(math.sqrt(52))
    assert hausdorff(a, b, (2.0, 1.0), percentile=95)[0] == pytest.approx(math.sqrt(52))
    assert hausdorff(a, b)[0] == pytest.approx(5.0)  # pixels


def test_hausdorff_of_rectangles_shifted_along_rows():
    # A 3x7 rectangle shifted down by 3 rows: the farthest boundary points are 3 rows apart.
    a = np.zeros((12, 12), bool)
    a[2:5, 2:9] = True
    b = np.roll(a, 3, axis=0)
    assert hausdorff(a, b, (2.0, 1.0))[0] == pytest.approx(6.0)
    assert hausdorff(a, b, (1.0, 2.0))[0] == pytest.approx(3.0)
    assert hausdorff(a, b, (2.0, 1.0), percentile=95)[0] <= 6.0 + 1e-9


def test_roc_auc_known_answers():
    rng = np.random.default_rng(0)
    truth = _square((40, 40), 10, 10, 15)
    assert roc_auc(truth.astype(float), truth) == pytest.approx(1.0)
    assert roc_auc(1.0 - truth.astype(float), truth) == pytest.approx(0.0)
    assert roc_auc(rng.random(truth.shape), truth) == pytest.approx(0.5, abs=0.05)
    # Hand case: positives 0.35, 0.8; negatives 0.1, 0.4 -> 3 of 4 pairs ordered correctly.
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)) == pytest.approx(0.75)
    assert math.isnan(roc_auc(np.array([0.2, 0.3]), np.array([0, 0], bool)))


def test_empty_prediction_and_empty_truth_are_counted_not_crashing():
    truth = _square((16, 16), 4, 4, 6)
    empty = np.zeros_like(truth)
    m = SegmentationMetrics()
    m.update(np.stack([empty, truth, empty]), np.stack([truth, empty, empty]),
             probs=np.stack([empty, truth, empty]).astype(np.float32), case_id="c", phases=["ED", "ES", "ED"])
    ed1, es, ed2 = m.records
    assert ed1.dice == 0.0 and math.isnan(ed1.hd) and math.isnan(ed1.hd95)
    assert es.dice == 0.0 and math.isnan(es.hd) and math.isnan(es.auc)
    assert ed2.dice == 1.0 and ed2.hd == 0.0
    counts = m.aggregate()["groups"]["all_frames"]["counts"]
    assert counts == {"empty_pred": 2, "empty_truth": 2, "both_empty": 1, "hd_undefined": 2, "auc_undefined": 2}


def test_pooled_dice_differs_from_mean_dice_as_computed_by_hand():
    big = _square((20, 20), 0, 0, 10)  # 100 px, predicted exactly: Dice 1
    small_truth = np.zeros((20, 20), bool)
    small_truth[12:14, 12:16] = True  # 8 px
    small_pred = _square((20, 20), 12, 12, 2)  # 4 px inside the truth: Dice 8/12
    m = SegmentationMetrics()
    m.update(np.stack([big, small_pred]), np.stack([big, small_truth]), case_id="v", phases=["ED", "ES"])
    group = m.aggregate()["groups"]["ED+ES"]
    assert group["dice_mean"]["mean"] == pytest.approx((1 + 2 / 3) / 2)
    assert group["dice_pooled"]["value"] == pytest.approx(2 * (100 + 4) / (200 + 12))
    assert pooled_dice(m.records) == pytest.approx(208 / 212)
    assert "EchoNet" in group["dice_pooled"]["definition"] and "paper" in group["dice_mean"]["definition"]


def test_groups_units_areas_and_per_video():
    truth = _square((16, 16), 2, 2, 6)
    m = SegmentationMetrics()
    m.update(truth, truth, spacing_mm=(0.5, 0.25), case_id="a", frames=[3], phases=["ED"])
    m.update(_square((16, 16), 3, 2, 6), truth, spacing_mm=(0.5, 0.25), case_id="a", frames=[9], phases=["ES"])
    summary = m.aggregate()
    assert set(summary["groups"]) == {"ED", "ES", "ED+ES", "all_frames"}
    assert summary["distance_unit"] == "mm"
    assert summary["groups"]["ED"]["dice_mean"]["mean"] == 1.0
    assert summary["groups"]["ES"]["hd"]["mean"] == pytest.approx(0.5)  # one row = 0.5 mm
    assert m.records[0].area_true == pytest.approx(36 * 0.125)
    (video,) = summary["per_video"]
    assert video["dice_ed"] == 1.0 and video["dice_es"] == pytest.approx(2 * 30 / 72)
    m.reset()
    assert m.records == []


def test_pixel_units_are_labelled_px():
    truth = _square((16, 16), 2, 2, 6)
    m = SegmentationMetrics()
    m.update(truth, truth, case_id="a")
    assert m.records[0].unit == "px" and m.aggregate()["groups"]["all_frames"]["hd"]["unit"] == "px"


def test_pooled_auc_uses_a_sample_of_all_frames():
    rng = np.random.default_rng(1)
    truth = _square((64, 64), 10, 10, 30)
    m = SegmentationMetrics(auc_max_pixels=1000, pooled_auc_pixels=1500)
    for phase in ("ED", "ES"):
        m.update(truth, truth, probs=truth * 0.6 + rng.random(truth.shape) * 0.5, case_id=phase, phases=[phase])
    group = m.aggregate()["groups"]["ED+ES"]
    assert group["auc_pooled"]["n_pixels"] == 1500
    assert 0.9 < group["auc_pooled"]["value"] <= 1.0


def test_temporal_consistency_known_answer():
    # Truth area 100,110,120; prediction 100,130,120: jitter true = 10/110, pred = 20/110 (percent).
    t = temporal_consistency([100, 130, 120], [100, 110, 120], [1.0, 0.8, 0.9])
    assert t["area_jitter_true_pct"] == pytest.approx(100 * 10 / 110)
    assert t["area_jitter_pred_pct"] == pytest.approx(100 * 20 / 110)
    assert t["jitter_ratio"] == pytest.approx(2.0)
    # Differences: pred (+30, -10), truth (+10, +10) -> mean abs error 20.
    assert t["area_error_jitter_pct"] == pytest.approx(100 * 20 / 110)
    assert t["dice_min"] == 0.8


def test_all_frame_sequences_get_a_temporal_summary():
    truth = _square((16, 16), 2, 2, 6)
    frames = np.stack([truth] * 4)
    m = SegmentationMetrics()
    m.update(frames, frames, case_id="seq")
    m.update(frames[:2], frames[:2], case_id="edes", frames=[0, 7], phases=["ED", "ES"])
    temporal = m.aggregate()["temporal"]
    assert temporal["n_videos"] == 1 and set(temporal["per_video"]) == {"seq"}
    assert temporal["per_video"]["seq"]["area_jitter_pred_pct"] == 0.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="c1: prediction"):
        SegmentationMetrics().update(np.zeros((4, 4), bool), np.zeros((4, 5), bool), case_id="c1")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # MONAI 1.6 deprecation inside compute_hausdorff_distance
def test_hausdorff_pair_agrees_with_monai_compute_hausdorff_distance():
    import torch
    from monai.metrics import compute_hausdorff_distance

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:40, :50]
    for _ in range(4):
        cy, cx, ry, rx = rng.uniform(15, 25), rng.uniform(18, 30), rng.uniform(5, 12), rng.uniform(5, 15)
        a = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        b = ((yy - cy - rng.uniform(-3, 3)) / (ry + 2)) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        b[int(cy) : int(cy) + 3, :5] = True  # an island far away: HD and HD95 differ
        spacing = (0.7, 0.3)
        hd, hd95 = hausdorff_pair(a, b, spacing)
        ta, tb = torch.from_numpy(a)[None, None].float(), torch.from_numpy(b)[None, None].float()
        assert hd[0] == pytest.approx(float(compute_hausdorff_distance(ta, tb, True, spacing=list(spacing))), rel=1e-5)
        assert hd95[0] == pytest.approx(
            float(compute_hausdorff_distance(ta, tb, True, percentile=95, spacing=list(spacing))), rel=1e-5)


def test_missed_frames_are_counted_beside_hd_and_penalised_at_the_diagonal():
    from echoseg.evaluation.folds import headline_metrics

    truth = np.zeros((3, 20, 30), bool)
    truth[:, 5:15, 5:15] = True
    pred = truth.copy()
    pred[1] = False  # a missed frame: HD undefined
    pred[2, 5:15, 7:17] = True  # a frame with a finite HD
    metrics = SegmentationMetrics()
    records = metrics.update(pred, truth, spacing_mm=(0.5, 2.0), phases=["ED", "ES", "ED"])
    assert records[0].hd == 0 and records[0].hd_penalised == 0
    assert np.isnan(records[1].hd) and records[1].hd_penalised == pytest.approx(np.hypot(20 * 0.5, 30 * 2.0))
    assert records[2].hd_penalised == records[2].hd > 0
    group = metrics.aggregate()["groups"]["ED+ES"]
    assert group["counts"]["hd_undefined"] == 1 and group["hd"]["n"] == 2 and group["hd_penalised"]["n"] == 3
    assert group["hd_penalised"]["mean"] > group["hd"]["mean"]
    head = headline_metrics({"groups": {"ED+ES": {**group, "auc_pooled": {"value": 1.0}}}})
    assert head["hd_missed"] == 1 and head["hd_penalised"] == pytest.approx(group["hd_penalised"]["mean"])
