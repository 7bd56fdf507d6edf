"""Method of disks on shapes whose volumes are known analytically."""

import math

import numpy as np
import pytest

from echoseg.geometry.disks import disk_chords, ejection_fraction, long_axis, monoplane_volume


def _ellipse(h, w, cy, cx, ry, rx, spacing=(1.0, 1.0)):
    dy, dx = spacing
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) * dy / ry) ** 2 + ((xx - cx) * dx / rx) ** 2 <= 1.0


def _half_ellipse(h, w, base_y, cx, length, radius, spacing=(1.0, 1.0)):
    """Bullet: upper half of an ellipse with its flat base at row base_y, apex above."""
    mask = _ellipse(h, w, base_y, cx, length, radius, spacing)
    mask[int(base_y) + 1 :] = False
    return mask


def test_long_axis_finds_apex_on_the_narrow_end():
    mask = _half_ellipse(160, 120, base_y=130, cx=60, length=90, radius=30)
    apex, base = long_axis(mask)
    assert apex[1] == pytest.approx(130 - 90, abs=1.5) and apex[0] == pytest.approx(60, abs=1.5)
    assert base[1] == pytest.approx(130, abs=1.5) and base[0] == pytest.approx(60, abs=1.5)


def test_half_ellipsoid_volume_matches_analytic():
    # Half prolate spheroid about the long axis: V = 2/3 * pi * r^2 * L.
    length, radius = 90.0, 30.0
    mask = _half_ellipse(160, 120, base_y=130, cx=60, length=length, radius=radius)
    expected = 2 / 3 * math.pi * radius**2 * length
    assert monoplane_volume(mask) == pytest.approx(expected, rel=0.03)


def test_anisotropic_spacing_gives_physical_volume():
    # The same physical bullet (L = 60 mm, r = 20 mm) drawn with dy = 0.5 mm, dx = 0.25 mm.
    spacing = (0.5, 0.25)
    mask = _half_ellipse(160, 200, base_y=140, cx=100, length=60, radius=20, spacing=spacing)
    expected_ml = 2 / 3 * math.pi * 20**2 * 60 / 1000
    assert monoplane_volume(mask, spacing) == pytest.approx(expected_ml, rel=0.03)


def test_chords_are_ordered_apex_to_base_and_perpendicular():
    mask = _half_ellipse(160, 120, base_y=130, cx=60, length=90, radius=30)
    apex, base = long_axis(mask)
    geom = disk_chords(mask, apex, base)
    widths = geom.diameters
    assert widths[0] < widths[-1]
    axis = base - apex
    for (p1, p2) in geom.chords:
        assert abs(np.dot(p2 - p1, axis)) / (np.linalg.norm(p2 - p1) * np.linalg.norm(axis)) < 1e-6


def test_islands_and_holes_do_not_change_volume():
    mask = _half_ellipse(160, 120, base_y=130, cx=60, length=90, radius=30)
    clean = monoplane_volume(mask)
    noisy = mask.copy()
    noisy[5:8, 5:8] = True  # island
    noisy[100:103, 60:63] = False  # hole
    assert monoplane_volume(noisy) == pytest.approx(clean, rel=1e-6)


def test_ejection_fraction():
    assert ejection_fraction(100.0, 40.0) == pytest.approx(60.0)
    assert math.isnan(ejection_fraction(0.0, 0.0))


def _tilted_bullet(angle_deg, length=80.0, radius=25.0, size=240):
    """Half ellipse whose flat base is centred at (x=120, y=168) and whose apex points `angle_deg` off vertical."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    a = math.radians(angle_deg)
    dx, dy = xx - size / 2, yy - size * 0.7
    along = -dy * math.cos(a) + dx * math.sin(a)
    across = dx * math.cos(a) + dy * math.sin(a)
    return ((along / length) ** 2 + (across / radius) ** 2 <= 1) & (along >= 0)


@pytest.mark.parametrize("angle", [15, 30, -25])
def test_tilted_lv_keeps_its_full_long_axis_and_volume(angle):
    # A tilted, rasterised base must not pull the base midpoint towards the apex (it did by ~3 px at 30 deg).
    mask = _tilted_bullet(angle)
    apex, base = long_axis(mask)
    assert base == pytest.approx([120.0, 168.0], abs=1.0)
    assert np.linalg.norm(apex - base) == pytest.approx(80.0, abs=1.5)
    assert monoplane_volume(mask) == pytest.approx(2 / 3 * math.pi * 25**2 * 80, rel=0.02)
