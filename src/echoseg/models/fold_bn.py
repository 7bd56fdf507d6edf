"""Inference-only rewrites of a trained network: the same function, fewer memory passes.

`fold_batchnorm(model)` returns an eval-mode copy in which every BatchNorm that follows a conv is
folded into that conv's weights and bias (and replaced by Identity). Its outputs equal the
original's up to float rounding; its state_dict differs (no BN entries), so save the original,
never the folded copy.
"""

from __future__ import annotations

import copy

import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)

# (conv attribute, batchnorm attribute) pairs of our blocks that are not plain Sequentials
_NAMED_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("proj", "bn"))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with conv -> BatchNorm pairs folded into single convs."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:], strict=False):
                _fold_pair(module, a, b)
        else:
            for a, b in _NAMED_PAIRS:
                _fold_pair(module, a, b)
    return folded


def _fold_pair(parent: nn.Module, conv_name: str, bn_name: str) -> None:
    conv, bn = getattr(parent, conv_name, None), getattr(parent, bn_name, None)
    if isinstance(conv, _CONVS) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
        fused = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
        setattr(parent, conv_name, fused)
        setattr(parent, bn_name, nn.Identity())
