"""ASSC against the paper's equations, its scaling at initialisation, and the released network's settings."""

import math

import pytest
import torch
import torch.nn.functional as F

from echoseg.models import create_model
from echoseg.models.calibration import ASSC, attention_saturation
from echoseg.models.checkpoint import load_model, save_model


def paper_eq3_calibration(neighbour, target, tq, tk, g, *, reading="matmul", scale="raw", padding=0, dilation=1):
    """Eqs. 2-3 of Wu et al. 2022 written out from the text, one sample at a time, in float64.

    Q' = Summarize(Tq(F^{t-1})), K' = Summarize(Tk(F^t)): adaptive max-pools to 1x1, 3x3, 5x5, 7x7,
    flattened and concatenated (M = 84). W = Sigmoid(Q' (K')^T) x G, a C x C x 3 x 3 kernel that is
    convolved with F^{t-1}. "x G" read as a product over channels (the release's reading:
    W[o, i] = sum_c A[o, c] G[c, i]) or elementwise (W[o, i] = A[o, i] G[o, i]). `scale` adds
    echoseg's scalings on top of the paper's formula.
    """
    out = []
    for b in range(neighbour.shape[0]):
        q = F.conv2d(neighbour[b:b + 1], tq.weight, tq.bias, padding=padding)[0]
        k = F.conv2d(target[b:b + 1], tk.weight, tk.bias, padding=padding)[0]
        qs = torch.cat([F.adaptive_max_pool2d(q, s).flatten(1) for s in (1, 3, 5, 7)], dim=1)  # (C, 84)
        ks = torch.cat([F.adaptive_max_pool2d(k, s).flatten(1) for s in (1, 3, 5, 7)], dim=1)
        c, m = qs.shape
        assert m == 84
        kernel_scale = 1.0
        if scale == "centred":
            qs, ks = qs - qs.mean(1, keepdim=True), ks - ks.mean(1, keepdim=True)
        if scale != "raw":
            kernel_scale = 1.0 / (9 * c * c)
        logits = qs @ ks.T / (1.0 if scale == "raw" else math.sqrt(m))
        a = torch.sigmoid(logits)
        if reading == "matmul":
            w = torch.einsum("oc,cihw->oihw", a, g)
        else:
            w = a[:, :, None, None] * g
        out.append(F.conv2d(neighbour[b:b + 1], w * kernel_scale, padding=dilation, dilation=dilation))
    return torch.cat(out)


@pytest.mark.parametrize("kernel", ["matmul", "elementwise"])
@pytest.mark.parametrize("scale,padding", [("raw", 0), ("raw", 1), ("centred", 1), ("sqrt_m", 0)])
def test_assc_equals_the_papers_eq3(kernel, scale, padding):
    c = 6
    torch.manual_seed(0)
    assc = ASSC(c, kernel=kernel, scale=scale, transform_padding=padding).double()
    with torch.no_grad():  # a G that is not all ones, so the channel contraction is really tested
        assc.g.normal_(1.0, 0.5)
        assc.tq.weight.mul_(0.3)  # moderate logits: a saturated sigmoid would hide differences
        assc.tk.weight.mul_(0.3)
    neighbour, target = torch.randn(2, c, 9, 11).double(), torch.randn(2, c, 9, 11).double()
    expected = paper_eq3_calibration(neighbour, target, assc.tq, assc.tk, assc.g, reading=kernel, scale=scale,
                                     padding=padding)
    with torch.no_grad():
        got = assc(neighbour, target)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10 * expected.abs().max().item())
    if scale == "sqrt_m":  # the uncentred form is a different function from the centred one
        centred = paper_eq3_calibration(neighbour, target, assc.tq, assc.tk, assc.g, reading=kernel,
                                        scale="centred", padding=padding)
        assert not torch.allclose(got, centred)


def test_release_setting_is_the_released_networks_structure():
    model = create_model("sscf", width=0.25, release=True)
    asscs = [a for f in model.fusions for a in f.calibrators]
    assert all(a.tq.padding == (0, 0) and a.tk.padding == (0, 0) and a.scale == "raw" for a in asscs)
    assert all(a.dilations == (1,) and a.kernel == "matmul" for a in asscs)
    assert model.head.kernel_size == (3, 3) and model.decoder.final[0].bias is not None
    x = torch.rand(2, 3, 48, 64)
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 1, 48, 64)
    with pytest.raises(ValueError, match="at least 48x48"):
        model(torch.rand(1, 3, 32, 64))
    with pytest.raises(ValueError, match="release=True .*decoder"):
        create_model("sscf", release=True, decoder="unet")
    with pytest.raises(ValueError, match="release=True .*calibration_scale"):
        create_model("sscf", release=True, calibration_scale="centred")
    default = create_model("sscf", width=0.25)
    assert all(a.tq.padding == (1, 1) and a.scale == "centred" for f in default.fusions for a in f.calibrators)
    assert default.head.kernel_size == (1, 1)


def test_release_weights_round_trip(tmp_path):
    cfg = {"width": 0.125, "release": True}
    model = create_model("sscf", **cfg).eval()
    path = save_model(tmp_path / "m.safetensors", model, "sscf", cfg)
    loaded, info = load_model(path)
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert info.model_cfg["release"] is True


def test_the_retired_calibration_norm_setting_is_refused():
    # Its compatibility shim is gone (issue 21): no shipped or recorded weights file uses it, and
    # load_model turns this TypeError into a one-line CheckpointError naming the file.
    with pytest.raises(TypeError, match="calibration_norm"):
        create_model("sscf", width=0.125, calibration_norm=True)


def test_attention_is_not_saturated_at_initialisation():
    # Issue 11: with logits / sqrt(M) on the positive max-pooled summaries, 91/71/38/9% of the
    # attention entries of stages 1-4 were saturated at initialisation (width 1.0, 64x64, train BN).
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    default = attention_saturation(create_model("sscf", width=0.5), x)
    assert len(default) == 4 and all(max(stage) < 0.10 for stage in default), default
    old = attention_saturation(create_model("sscf", width=0.5, calibration_scale="sqrt_m"), x)
    assert max(old[0]) > 0.5  # the measurement does see the saturation the old scale had


def test_attention_saturation_leaves_the_model_as_it_was():
    model = create_model("baseline_bssf", width=0.125).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attention_saturation(model, torch.rand(2, 3, 32, 32))
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert attention_saturation(create_model("baseline", width=0.125), torch.rand(1, 3, 32, 32)) == []
