import math

import pytest
import torch

from echoseg.training.losses import bernoulli_kl, confident_pixels, consistency_loss, dice_loss, supervised_loss


def as_map(values):
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)


def test_dice_loss_squared_denominator_hand_computed():
    # p = [1, .5, 0, 0], g = [1, 1, 0, 0]: 2 * 1.5 / (1 + .25 + 2) = 3 / 3.25
    loss = dice_loss(as_map([1.0, 0.5, 0.0, 0.0]), as_map([1, 1, 0, 0]))
    assert loss.item() == pytest.approx(1 - 3 / 3.25, abs=1e-6)


def test_dice_loss_is_per_image_then_mean_and_zero_for_empty_match():
    probs = torch.cat([as_map([1.0, 0.5, 0.0, 0.0]), as_map([0.0, 0.0, 0.0, 0.0])])
    target = torch.cat([as_map([1, 1, 0, 0]), as_map([0, 0, 0, 0])])
    assert dice_loss(probs, target).item() == pytest.approx((1 - 3 / 3.25) / 2, abs=1e-6)


def test_supervised_loss_is_half_dice_plus_half_bce():
    logits = torch.log(torch.tensor([0.8 / 0.2, 0.2 / 0.8])).view(1, 1, 1, 2)  # probs 0.8, 0.2
    target = as_map([1, 0])
    out = supervised_loss(logits, target)
    bce = -math.log(0.8)  # both pixels contribute -ln 0.8
    dice = 1 - 2 * 0.8 / (0.64 + 0.04 + 1)
    assert out["bce"].item() == pytest.approx(bce, abs=1e-6)
    assert out["dice"].item() == pytest.approx(dice, abs=1e-6)
    assert out["loss"].item() == pytest.approx(0.5 * dice + 0.5 * bce, abs=1e-6)


def test_bernoulli_kl_hand_computed_and_direction():
    # KL(Bern(.5) || Bern(.25)) = .5 ln 2 + .5 ln(2/3); the reverse direction differs.
    assert bernoulli_kl(as_map([0.5]), as_map([0.25])).item() == pytest.approx(
        0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75), abs=1e-6)
    assert bernoulli_kl(as_map([0.25]), as_map([0.5])).item() == pytest.approx(
        0.25 * math.log(0.5) + 0.75 * math.log(1.5), abs=1e-6)
    assert bernoulli_kl(as_map([0.3, 0.9]), as_map([0.3, 0.9])).item() == pytest.approx(0.0, abs=1e-7)


def test_consistency_loss_weights_and_gradient_only_to_student():
    student = as_map([0.5]).requires_grad_(True)
    teacher = as_map([0.25]).requires_grad_(True)
    out = consistency_loss(student, teacher)
    kl = 0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75)
    assert out["mse"].item() == pytest.approx(0.0625, abs=1e-7)
    assert out["loss"].item() == pytest.approx(0.5 * 0.0625 + 0.5 * kl, abs=1e-6)
    out["loss"].backward()
    assert student.grad is not None and student.grad.abs().item() > 0
    assert teacher.grad is None


def test_kl_finite_at_saturated_probabilities():
    value = bernoulli_kl(as_map([1.0, 0.0]), as_map([0.0, 1.0]))
    assert torch.isfinite(value)


def test_consistency_on_confident_teacher_pixels_only():
    """mean_teacher.confidence: only pixels the teacher is sure of count (self-ensembling domain
    adaptation, French et al. 2018); the rest neither add to the loss nor dilute it."""
    student = as_map([0.5, 0.5, 0.5]).requires_grad_(True)
    teacher = as_map([0.95, 0.6, 0.02])
    weight = confident_pixels(teacher, 0.9)
    assert weight.flatten().tolist() == [1.0, 0.0, 1.0]
    out = consistency_loss(student, teacher, weight=weight)
    both = consistency_loss(as_map([0.5, 0.5]), as_map([0.95, 0.02]))
    assert out["loss"].item() == pytest.approx(both["loss"].item(), rel=1e-6)
    out["loss"].backward()
    assert student.grad.flatten()[1].item() == 0.0 and student.grad.flatten()[0].item() != 0.0
    # No confident pixel: a zero loss, not 0/0.
    assert consistency_loss(student, teacher, weight=torch.zeros_like(weight))["loss"].item() == 0.0
    assert confident_pixels(teacher, 0.0) is None
