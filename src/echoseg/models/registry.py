"""Model registry: `@register_model("name")` on a factory, `create_model("name", **cfg)` to build.

Model contract (every registered model):
- attribute `window: int` (k, the number of consecutive frames it reads; 1 for single-frame models);
- forward(x: float (B, k, H, W) with values in [0, 1]) -> logits (B, 1, H, W) for the centre frame;
  any further intensity normalisation happens inside the model;
- H and W must be multiples of 16 (a clear ValueError otherwise).

Optional: `auxiliary_losses(target, n_labeled) -> {name: weighted scalar}` for networks that train
with extra losses of their own (flow, motion, label coherence); see `echoseg.models.auxiliary`.
The trainer adds their sum to the supervised loss.

The registry is a leaf: it imports no model module. Modules that define models register them when
imported, and the `echoseg.models` package imports them all, so importing anything from
`echoseg.models` (this module included) makes every model available.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = factory
        return factory

    return decorator


def available_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, **cfg) -> nn.Module:
    """Build model `name` with keyword settings `cfg` (e.g. width=0.5, window=3, decoder="linknet")."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {sorted(_MODELS)}")
    return _MODELS[name](**cfg)
