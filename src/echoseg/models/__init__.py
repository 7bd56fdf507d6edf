"""Networks: encoders, ASSC calibration, BSSF fusion, decoders and the registered variants."""

from echoseg.models.registry import available_models, create_model, register_model

__all__ = ["available_models", "create_model", "register_model"]
