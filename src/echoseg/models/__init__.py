"""Networks: encoders, ASSC calibration, BSSF fusion, decoders, the registered variants and competitors.

Importing the package registers every model (the registry itself imports no model module).
"""

from echoseg.models import (
    baselines,  # noqa: F401  (registers the paper's competitors)
    variants,  # noqa: F401  (registers the paper's Table 2 variants)
)
from echoseg.models.registry import available_models, create_model, list_models, register_model

__all__ = ["available_models", "create_model", "list_models", "register_model"]
