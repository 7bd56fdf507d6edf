import pytest

from echoseg.training.schedules import consistency_ramp, poly_factor


def test_consistency_ramp_is_quadratic_and_clamped():
    assert consistency_ramp(0, 100) == 0.0
    assert consistency_ramp(50, 100) == pytest.approx(0.25)
    assert consistency_ramp(10, 100) == pytest.approx(0.01)
    assert consistency_ramp(100, 100) == 1.0
    assert consistency_ramp(250, 100) == 1.0


def test_poly_factor():
    assert poly_factor(0, 100, 0.9) == 1.0
    assert poly_factor(50, 100, 0.9) == pytest.approx(0.5 ** 0.9)
    assert poly_factor(99, 100, 0.9) == pytest.approx(0.01 ** 0.9)
    assert poly_factor(100, 100, 0.9) == 0.0
    assert poly_factor(120, 100, 0.9) == 0.0
