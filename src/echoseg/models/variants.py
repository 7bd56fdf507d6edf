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
literal eq. 3) and calibration_scale ("centred" default | "sqrt_m" | "raw" released, see
calibration.py); for `sscf` also release (True: the authors' released network exactly: LinkNet
decoder with the release's tail, raw calibration scale, unpadded Tq/Tk, dilation 1, matmul kernel;
inputs >= 48x48). A setting that does not apply to a variant is an error, not silently ignored. With window 1 every variant is
the same single-frame network (k = 1 "uses a shared encoder", paper Table 5).

`unet` defaults to the U-Net decoder (its name, and the paper's U-Net row); the others default to
the released network's LinkNet decoder. For a decoder-matched ablation pass `decoder` explicitly.
"""

from __future__ import annotations

from echoseg.models.network import TemporalSegNet
from echoseg.models.registry import list_models, register_model


def _calibration_cfg(dilations, calibration: str, calibration_scale: str | None) -> dict:
    return {"dilations": tuple(int(d) for d in dilations), "calibration": calibration,
            "calibration_scale": calibration_scale or "centred"}


def _release_cfg(decoder: str | None, dilations, calibration: str | None, calibration_scale: str | None) -> dict:
    """The settings of the authors' released network; any other explicit value is an error."""
    release = {"decoder": "linknet", "dilations": (1,), "calibration": "matmul", "calibration_scale": "raw"}
    given = {"decoder": decoder, "dilations": tuple(int(d) for d in dilations), "calibration": calibration,
             "calibration_scale": calibration_scale}
    clash = {k: v for k, v in given.items() if v is not None and v != release[k]}
    if clash:
        raise ValueError(f"release=True reproduces the released network ({release}); it cannot be combined "
                         f"with {clash}")
    return {**release, "transform_padding": 0, "release_decoder": True}


@register_model("unet", family="table2")
def unet(*, width: float = 1.0, window: int = 1, decoder: str = "unet") -> TemporalSegNet:
    """Single-frame network: one encoder, no temporal fusion."""
    if window != 1:
        raise ValueError(f"unet reads a single frame (window=1), got window={window}")
    return TemporalSegNet(width=width, window=1, decoder=decoder, shared_encoder=True, fusion="concat")


@register_model("baseline", family="table2")
def baseline(*, width: float = 1.0, window: int = 3, decoder: str = "linknet") -> TemporalSegNet:
    """One encoder shared by the k frames; stages fused by concatenation + 1x1 conv + BN."""
    return TemporalSegNet(width=width, window=window, decoder=decoder, shared_encoder=True, fusion="concat")


@register_model("baseline_tce", family="table2")
def baseline_tce(*, width: float = 1.0, window: int = 3, decoder: str = "linknet") -> TemporalSegNet:
    """k encoders with separate weights (TCE); stages fused by concatenation + 1x1 conv + BN."""
    return TemporalSegNet(width=width, window=window, decoder=decoder, shared_encoder=False, fusion="concat")


@register_model("baseline_bssf", family="table2")
def baseline_bssf(*, width: float = 1.0, window: int = 3, decoder: str = "linknet", dilations=(1,),
                  calibration: str = "matmul", calibration_scale: str | None = None) -> TemporalSegNet:
    """One shared encoder; stages fused by BSSF (each neighbour calibrated to the centre by ASSC)."""
    cfg = {"width": width, "window": window, "decoder": decoder,
           **_calibration_cfg(dilations, calibration, calibration_scale)}
    return TemporalSegNet(**cfg, shared_encoder=True, fusion="bssf")


@register_model("sscf", family="table2")
def sscf(*, width: float = 1.0, window: int = 3, decoder: str | None = None, dilations=(1,),
         calibration: str | None = None, calibration_scale: str | None = None, release: bool = False) -> TemporalSegNet:
    """The full SSCF network: TCE (k separate encoders) + BSSF. release=True: the authors' network."""
    if release:
        settings = _release_cfg(decoder, dilations, calibration, calibration_scale)
        return TemporalSegNet(width=width, window=window, **settings, shared_encoder=False, fusion="bssf")
    cfg = {"width": width, "window": window, "decoder": decoder or "linknet",
           **_calibration_cfg(dilations, calibration or "matmul", calibration_scale)}
    return TemporalSegNet(**cfg, shared_encoder=False, fusion="bssf")


# The rows of the paper's Table 2, in its order (registered in that order above; the ablation
# protocol and `echoseg bench` use it).
ABLATION_VARIANTS = tuple(list_models(family="table2"))
