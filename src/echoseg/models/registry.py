"""Model registry: `@register_model("name", family=...)` on a factory, `create_model("name", **cfg)` to build.

Every registered model is a `echoseg.models.contract.SegmentationModel`; the contract (window,
input size check, outputs, auxiliary losses, per-frame features) is stated there once.

The registry records each model's module and family ("table2": the paper's ablation variants;
"competitor": the paper's competitors and public anchors), so `list_models(family=...)` or
`list_models(module=...)` replaces hand-kept lists of names (as timm's `list_models(module=...)`).
Names come back in registration order.

The registry is a leaf: it imports no model module. Modules that define models register them when
imported, and the `echoseg.models` package imports them all, so importing anything from
`echoseg.models` (this module included) makes every model available.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., nn.Module]
    module: str
    family: str


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, family: str = "other") -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, factory, factory.__module__, family)
        return factory

    return decorator


def available_models() -> list[str]:
    return sorted(_MODELS)


def list_models(*, family: str | None = None, module: str | None = None) -> list[str]:
    """Registered names in registration order, of one `family` and/or from modules under `module`."""
    return [e.name for e in _MODELS.values() if (family is None or e.family == family)
            and (module is None or e.module == module or e.module.startswith(module + "."))]


def model_entry(name: str) -> ModelEntry:
    """Where model `name` comes from (module, family); ValueError listing the valid names."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {sorted(_MODELS)}")
    return _MODELS[name]


def create_model(name: str, **cfg) -> nn.Module:
    """Build model `name` with keyword settings `cfg` (e.g. width=0.5, window=3, decoder="linknet")."""
    return model_entry(name).factory(**cfg)
