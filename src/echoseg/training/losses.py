"""Losses of the paper (section 3.4): supervised Dice + BCE, consistency MSE + KL.

All losses take logits or probabilities of shape (B, 1, H, W) and return a scalar. Where the paper
sums over pixels and frames (eqs. 5, 8, 9, 11) we take means, so the loss scale does not depend on
the image size or batch size; the relative weights (0.5 / 0.5, lambda(t)) are the paper's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Keeps log() finite for probabilities that saturate at exactly 0 or 1 in float32.
_PROB_EPS = 1e-6
# Dice smoothing: an empty prediction on an empty mask is a perfect match (loss 0), not 0/0.
_DICE_SMOOTH = 1e-6


def dice_loss(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared-denominator soft Dice loss (eq. 6), per image then averaged over the batch.

    1 - (2 sum p g + s) / (sum p^2 + sum g^2 + s), probs and target (B, 1, H, W), target in {0, 1}.
    """
    p = probs.flatten(1).float()
    g = target.flatten(1).float()
    intersection = (p * g).sum(1)
    denominator = (p * p).sum(1) + (g * g).sum(1)
    return (1.0 - (2.0 * intersection + _DICE_SMOOTH) / (denominator + _DICE_SMOOTH)).mean()


def supervised_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 0.5,
                    bce_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """alpha * Dice + beta * BCE on the centre frame (eq. 7 without the L2 term, which the optimizer's
    weight decay applies). Returns {"loss", "dice", "bce"}."""
    target = target.float()
    dice = dice_loss(torch.sigmoid(logits.float()), target)
    bce = F.binary_cross_entropy_with_logits(logits.float(), target)
    return {"loss": dice_weight * dice + bce_weight * bce, "dice": dice, "bce": bce}


def _mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values`, or their weighted mean over the pixels `weight` marks (0 when it marks none)."""
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over pixels of KL(Bern(p) || Bern(q)) = p log(p/q) + (1-p) log((1-p)/(1-q)).

    Eq. 9 writes only the foreground term; with one sigmoid output per pixel the two-class
    (foreground/background) KL is the proper divergence and is >= 0 everywhere.
    """
    p = p.float().clamp(_PROB_EPS, 1 - _PROB_EPS)
    q = q.float().clamp(_PROB_EPS, 1 - _PROB_EPS)
    kl = p * (p.log() - q.log()) + (1 - p) * ((1 - p).log() - (1 - q).log())
    return _mean(kl, weight)


def confident_pixels(teacher_probs: torch.Tensor, threshold: float) -> torch.Tensor | None:
    """1 where the teacher's probability of either class reaches `threshold`, else 0 (float, same shape);
    None when `threshold` is 0 (every pixel counts)."""
    if threshold <= 0:
        return None
    p = teacher_probs.detach().float()
    return (torch.maximum(p, 1 - p) >= threshold).float()


def consistency_loss(student_probs: torch.Tensor, teacher_probs: torch.Tensor, mse_weight: float = 0.5,
                     kl_weight: float = 0.5, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """alpha * MSE + beta * KL(student || teacher) (eqs. 8-10), direction as in eq. 9.

    The teacher's probabilities are targets: they are detached here so no gradient reaches the
    teacher whatever the caller did. weight: count only these pixels (`confident_pixels`); None = all.
    Returns {"loss", "mse", "kl"}.
    """
    teacher_probs = teacher_probs.detach().float()
    student_probs = student_probs.float()
    mse = _mean((student_probs - teacher_probs) ** 2, weight)
    kl = bernoulli_kl(student_probs, teacher_probs, weight)
    return {"loss": mse_weight * mse + kl_weight * kl, "mse": mse, "kl": kl}
