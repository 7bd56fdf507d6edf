"""Schedules as pure functions of the step, so a resumed run recomputes them exactly."""

from __future__ import annotations


def consistency_ramp(step: int, t_max: int) -> float:
    """lambda(t) = (t / t_max) ** 2, clamped to 1 after t_max (paper section 3.4.3)."""
    if t_max <= 0:
        return 1.0
    return min(1.0, step / t_max) ** 2


def poly_factor(step: int, total_steps: int, power: float = 0.9) -> float:
    """Poly learning-rate factor (1 - t / total) ** power, 0 at and after `total_steps`.

    The paper writes the recursion l(t) = l(t-1) * (1 - iter/total) ** power; we use the usual
    closed form l(t) = l0 * (1 - t/total) ** power (as in DeepLab and nnU-Net), which is what
    "poly" means in the segmentation literature; the recursive form would collapse to ~0 in a few
    hundred steps.
    """
    if total_steps <= 0:
        return 1.0
    return max(0.0, 1.0 - step / total_steps) ** power
