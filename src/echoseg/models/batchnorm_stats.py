"""BatchNorm running statistics measured on another domain's data (AdaBN, Li et al. 2016).

A network trained on synthetic video normalises real video with the synthetic video's feature
statistics. Re-measuring every BatchNorm's running mean and variance on windows of the target videos,
weights unchanged, is the cheapest form of domain adaptation and needs no labels.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_batchnorm_statistics(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm's running statistics, in place, by their plain average over `batches`
    (inputs as the model takes them, e.g. float (B, k, H, W) in [0, 1]); weights are not touched.
    Returns the number of batches seen; the model is left in eval mode. With no batch at all the
    statistics are left as they were."""
    layers = batchnorm_layers(model)
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    count = 0
    device = next(model.parameters()).device
    try:
        for batch in batches:
            model(batch.to(device))
            count += 1
    finally:
        for m, (momentum, mean, var) in zip(layers, saved, strict=True):
            m.momentum = momentum
            if count == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
        model.eval()
    return count
