"""EF methods on LV shapes with analytic volumes, and agreement statistics on hand numbers."""

import math

import numpy as np
import pytest

from echoseg.evaluation.ef import ef_agreement
from echoseg.geometry.volumes import (
    ViewDisks,
    area_length_volume,
    biplane_ef,
    biplane_ef_from_masks,
    biplane_volume,
    ef_from_masks,
    isotropic,
    view_disks,
    volume_curve,
)


def _bullet(h, w, base_y, cx, length, radius, spacing=(1.0, 1.0)):
    """Upper half of an ellipse (lengths in mm): flat base at row base_y, apex `length` mm above."""
    dy, dx = spacing
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - base_y) * dy / length) ** 2 + ((xx - cx) * dx / radius) ** 2 <= 1.0
    mask[int(base_y) + 1 :] = False
    return mask


def _half_spheroid_ml(length, r1, r2):
    return 2 / 3 * math.pi * r1 * r2 * length / 1000


def test_biplane_volume_formula_on_hand_numbers():
    # pi/4 * (2*3 + 4*5) * h with h = max(10, 8) / 2 = 5 -> pi/4 * 26 * 5 (px^3).
    v = biplane_volume(ViewDisks(np.array([2.0, 4.0]), 10.0), ViewDisks(np.array([3.0, 5.0]), 8.0), in_mm=False)
    assert v == pytest.approx(math.pi / 4 * 26 * 5)


def test_biplane_on_two_different_ellipses_matches_half_ellipsoid():
    # 2CH: L = 80 mm, r = 20 mm; 4CH: L = 80 mm, r = 28 mm, drawn with anisotropic pixels (dy != dx),
    # so the isotropic resampling is exercised. V = 2/3 pi r1 r2 L.
    sp2, sp4 = (0.5, 0.5), (0.6, 0.4)
    m2 = _bullet(200, 120, 180, 60, 80, 20, sp2)
    m4 = _bullet(170, 180, 150, 90, 80, 28, sp4)
    d2, d4 = view_disks(m2, sp2), view_disks(m4, sp4)
    assert d2.length == pytest.approx(80, rel=0.02) and d4.length == pytest.approx(80, rel=0.02)
    assert biplane_volume(d2, d4) == pytest.approx(_half_spheroid_ml(80, 20, 28), rel=0.03)


def test_biplane_ef_from_masks_and_camus_step():
    sp = (0.5, 0.5)
    ed2, ed4 = _bullet(200, 160, 180, 80, 80, 24, sp), _bullet(200, 160, 180, 80, 80, 30, sp)
    es2, es4 = _bullet(200, 160, 180, 80, 64, 16, sp), _bullet(200, 160, 180, 80, 64, 20, sp)
    edv, esv = _half_spheroid_ml(80, 24, 30), _half_spheroid_ml(64, 16, 20)
    result = biplane_ef_from_masks(ed2, es2, sp, ed4, es4, sp)
    assert result.unit == "ml"
    assert result.edv == pytest.approx(edv, rel=0.03) and result.esv == pytest.approx(esv, rel=0.03)
    assert result.ef == pytest.approx(100 * (edv - esv) / edv, abs=1.5)
    # The CAMUS script's single step (longest of the four axes = ED's 80 mm) inflates ESV by 80/64.
    camus = biplane_ef(*(view_disks(m, sp) for m in (ed2, es2, ed4, es4)), step="camus")
    assert camus.esv == pytest.approx(result.esv * 80 / 64, rel=0.02)
    with pytest.raises(ValueError, match="both views"):
        biplane_ef_from_masks(ed2, es2, sp, ed4, es4, None)


def test_area_length_on_a_half_ellipse_equals_half_spheroid():
    # A = pi*L*r/2, so 8 A^2 / (3 pi L) = 2/3 pi r^2 L exactly: the half prolate spheroid.
    sp = (0.5, 0.25)
    mask = _bullet(200, 240, 180, 120, 70, 22, sp)
    assert area_length_volume(mask, sp) == pytest.approx(_half_spheroid_ml(70, 22, 22), rel=0.03)
    assert area_length_volume(np.zeros((10, 10), bool)) == 0.0


def test_ef_from_masks_series_with_both_methods():
    sp = (0.5, 0.5)
    series = np.stack([_bullet(200, 160, 180, 80, 80, 25, sp), _bullet(200, 160, 180, 80, 70, 18, sp)])
    expected = 100 * (1 - (70 * 18**2) / (80 * 25**2))
    for method in ("disks", "area_length"):
        result = ef_from_masks(series, ed=0, es=1, spacing_mm=sp, method=method)
        assert result.ef == pytest.approx(expected, abs=1.5), method
        assert result.edv == pytest.approx(_half_spheroid_ml(80, 25, 25), rel=0.03)
    curve = volume_curve(series, sp)
    assert curve.shape == (2,) and curve[0] > curve[1]
    # Scale-free: EF in pixels equals EF in mm for isotropic pixels.
    assert ef_from_masks({3: series[0], 7: series[1]}, 3, 7).ef == pytest.approx(
        ef_from_masks(series, 0, 1, sp).ef, abs=1e-6)
    with pytest.raises(ValueError, match="unknown volume method"):
        ef_from_masks(series, 0, 1, method="cube")


def test_empty_mask_gives_nan_ef_not_a_crash():
    empty = np.zeros((50, 50), bool)
    assert math.isnan(ef_from_masks({0: empty, 1: empty}, 0, 1).ef)
    assert view_disks(empty).length == 0.0


def test_isotropic_resampling_keeps_physical_size():
    mask = np.zeros((10, 20), bool)
    mask[2:8, 5:15] = True  # 6 rows * 1.0 mm, 10 cols * 0.5 mm
    out, spacing = isotropic(mask, (1.0, 0.5))
    assert spacing == (0.5, 0.5) and out.shape == (20, 20)
    assert out.sum() * 0.25 == pytest.approx(mask.sum() * 0.5)


def test_agreement_statistics_on_hand_numbers():
    pred = [50.0, 62.0, 41.0, 70.0, float("nan")]
    ref = [48.0, 60.0, 45.0, 66.0, 55.0]
    # Differences 2, 2, -4, 4: bias 1, mae 3, sample sd = sqrt((1+1+25+9)/3) = sqrt(12).
    a = ef_agreement(pred, ref)
    assert a["n"] == 4 and a["n_dropped"] == 1
    assert a["bias"] == pytest.approx(1.0) and a["mae"] == pytest.approx(3.0)
    assert a["sd_diff"] == pytest.approx(math.sqrt(12))
    assert a["rmse"] == pytest.approx(math.sqrt(10))
    assert a["loa_lower"] == pytest.approx(1 - 1.96 * math.sqrt(12))
    assert a["loa_upper"] == pytest.approx(1 + 1.96 * math.sqrt(12))
    assert a["pearson_r"] == pytest.approx(np.corrcoef(pred[:4], ref[:4])[0, 1])
    assert ef_agreement([], [])["n"] == 0


def test_synthetic_generator_ef_equals_ef_from_its_masks():
    synthetic = pytest.importorskip("echoseg.data.synthetic")
    video = synthetic.generate_video(3, case_id="s3")
    sample, truth = video.sample, video.truth
    ef = ef_from_masks(sample.masks, truth.ed_frames[0], truth.es_frames[0], sample.spacing_mm).ef
    assert ef == pytest.approx(truth.ef, abs=2.0)


def test_constant_series_has_no_correlation():
    a = ef_agreement([55.0, 55.0 + 1e-13, 55.0], [50.0, 60.0, 55.0])
    assert math.isnan(a["pearson_r"]) and a["mae"] == pytest.approx(10 / 3)
