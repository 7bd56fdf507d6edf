"""The registered networks: the ablation variants of the paper's Table 2, built from the same parts.

| name            | encoders                 | fusion per stage        | default decoder |
|-----------------|--------------------------|-------------------------|-----------------|
| `unet`          | one, single frame (k=1)  | none                    | unet            |
| `baseline`      | one, shared by k frames  | concat + 1x1 conv + BN  | linknet         |
| `baseline_tce`  | k separate (TCE)         | concat + 1x1 conv + BN  | linknet         |
| `baseline_bssf` | one, shared by k frames  | BSSF (ASSC per offset)  | linknet         |
| `sscf`          | k separate (TCE)         | BSSF (ASSC per offset)  | linknet         |

Settings (keyword arguments of `create_model`, JSON-serialisable because checkpoints store them):
width (float, 1.0 = 64/128/256/512 channels), window (k, odd 1..11, default 3; `unet` only 1),
decoder ("linknet" as in the released network | "unet" as in the paper text); for the BSSF
variants also dilations (default (1,), summed), calibration ("matmul" released | "elementwise"
literal eq. 3) and calibration_norm (True: unit-scale calibration, see calibration.py). A setting
that does not apply to a variant is an error, not silently ignored. With window 1 every variant is
the same single-frame network (k = 1 "uses a shared encoder", paper Table 5).

`unet` defaults to the U-Net decoder (its name, and the paper's U-Net row); the others default to
the released network's LinkNet decoder. For a decoder-matched ablation pass `decoder` explicitly.
"""

from __future__ import annotations

from echoseg.models.network import TemporalSegNet
from echoseg.models.registry import register_model

# The rows of the paper's Table 2, in its order (the ablation protocol and `echoseg bench` use it).
ABLATION_VARIANTS = ("unet", "baseline", "baseline_tce", "baseline_bssf", "sscf")


def _calibration_cfg(dilations, calibration: str, calibration_norm: bool) -> dict:
    return {"dilations": tuple(int(d) for d in dilations), "calibration": calibration,
            "calibration_norm": bool(calibration_norm)}


@register_model("unet")
def unet(*, width: float = 1.0, window: int = 1, decoder: str = "unet") -> TemporalSegNet:
    """Single-frame network: one encoder, no temporal fusion."""
    if window != 1:
        raise ValueError(f"unet reads a single frame (window=1), got window={window}")
    return TemporalSegNet(width=width, window=1, decoder=decoder, shared_encoder=True, fusion="concat")


@register_model("baseline")
def baseline(*, width: float = 1.0, window: int = 3, decoder: str = "linknet") -> TemporalSegNet:
    """One encoder shared by the k frames; stages fused by concatenation + 1x1 conv + BN."""
    return TemporalSegNet(width=width, window=window, decoder=decoder, shared_encoder=True, fusion="concat")


@register_model("baseline_tce")
def baseline_tce(*, width: float = 1.0, window: int = 3, decoder: str = "linknet") -> TemporalSegNet:
    """k encoders with separate weights (TCE); stages fused by concatenation + 1x1 conv + BN."""
    return TemporalSegNet(width=width, window=window, decoder=decoder, shared_encoder=False, fusion="concat")


@register_model("baseline_bssf")
def baseline_bssf(*, width: float = 1.0, window: int = 3, decoder: str = "linknet", dilations=(1,),
                  calibration: str = "matmul", calibration_norm: bool = True) -> TemporalSegNet:
    """One shared encoder; stages fused by BSSF (each neighbour calibrated to the centre by ASSC)."""
    cfg = {"width": width, "window": window, "decoder": decoder,
           **_calibration_cfg(dilations, calibration, calibration_norm)}
    return TemporalSegNet(**cfg, shared_encoder=True, fusion="bssf")


@register_model("sscf")
def sscf(*, width: float = 1.0, window: int = 3, decoder: str = "linknet", dilations=(1,),
         calibration: str = "matmul", calibration_norm: bool = True) -> TemporalSegNet:
    """The full SSCF network: TCE (k separate encoders) + BSSF."""
    cfg = {"width": width, "window": window, "decoder": decoder,
           **_calibration_cfg(dilations, calibration, calibration_norm)}
    return TemporalSegNet(**cfg, shared_encoder=False, fusion="bssf")
