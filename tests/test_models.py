"""SSCF network, its ablation variants, the ASSC formulations and whole-video inference (tiny sizes)."""

import numpy as np
import pytest
import torch

from echoseg.models import available_models, create_model, list_models
from echoseg.models.calibration import ASSC, reference_calibration, summarize
from echoseg.models.checkpoint import load_model, save_model
from echoseg.models.contract import SegmentationModel
from echoseg.models.registry import model_entry
from echoseg.models.video import predict_video_probs, window_indices

TINY = {"width": 0.125}
H, W = 32, 48  # odd-but-valid: multiples of 16, not square, stage 4 is 2x3


def _tiny_cfg(name=None, **cfg):
    """Tiny settings; a network with one published size (echonet_deeplabv3: ResNet-50) takes no width."""
    fixed = name is not None and getattr(model_entry(name).factory, "fixed_size", False)
    return cfg if fixed else {**TINY, **cfg}


def _tiny(name, **cfg):
    return create_model(name, **_tiny_cfg(name, **cfg))


def _windows(name):
    """The windows k a registered model is tested at: 1, 3, 5 where it accepts them (single-frame
    models only 1; the competitors declare min_window / max_window)."""
    if name == "unet":
        return [1]
    model = _tiny(name)
    lo, hi = getattr(model, "min_window", 1), getattr(model, "max_window", 11)
    return [k for k in (1, 3, 5) if lo <= k <= hi]


@pytest.mark.parametrize("name", available_models())
def test_every_variant_maps_a_window_to_centre_logits(name):
    for k in _windows(name):
        model = _tiny(name, window=k).eval()
        assert model.window == k
        x = torch.rand(2, k, H, W)
        with torch.no_grad():
            y = model(x)
        assert y.shape == (2, 1, H, W) and y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("name", available_models())
def test_every_model_follows_the_contract_base_class(name):
    model = _tiny(name, window=_windows(name)[0])
    assert isinstance(model, SegmentationModel)
    with pytest.raises(ValueError, match="multiples of 16"):
        model.check_input_shape(torch.rand(1, model.window, H + 8, W))
    assert isinstance(model.splits_frames, bool) and isinstance(model.window, int)
    assert model.splits_frames == (type(model).encode_frames is not SegmentationModel.encode_frames)


def test_registry_records_module_and_family_instead_of_hand_kept_lists():
    from echoseg.models.baselines import BASELINES
    from echoseg.models.registry import model_entry
    from echoseg.models.variants import ABLATION_VARIANTS

    assert list(ABLATION_VARIANTS) == list_models(family="table2") == list_models(module="echoseg.models.variants")
    assert sorted(BASELINES) == sorted(list_models(family="competitor"))  # BASELINES: the paper's row order
    assert model_entry("dff").module == "echoseg.models.baselines.dff"
    assert list_models(module="echoseg.models.baselines") == list_models(family="competitor")


def test_registry_lists_the_ablation_variants_and_rejects_unknown_names():
    # Other tests may register test-only networks; the five ablation variants must always be there.
    assert {"baseline", "baseline_bssf", "baseline_tce", "sscf", "unet"} <= set(available_models())
    with pytest.raises(ValueError, match="valid models: .*sscf"):
        create_model("sscff")


@pytest.mark.parametrize("name", ["baseline", "sscf"])
def test_bad_input_sizes_and_windows_are_clear_errors(name):
    model = _tiny(name).eval()
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.rand(1, 3, 40, 48))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\).*k=3"):
        model(torch.rand(1, 5, 32, 32))
    for bad in (2, 0, 13, 3.0):
        with pytest.raises(ValueError, match="odd integer"):
            create_model(name, width=0.125, window=bad)
    with pytest.raises(ValueError, match="decoder"):
        create_model(name, width=0.125, decoder="fpn")


def test_settings_that_do_not_apply_are_refused():
    with pytest.raises(TypeError, match="dilations"):
        create_model("baseline", dilations=(1, 2))
    with pytest.raises(ValueError, match="single frame"):
        create_model("unet", window=3)


def test_parameter_count_matches_the_released_network():
    # The authors' released SSCF network (model.py, k = 3, width 1) has 53,700,417 parameters;
    # our default differs only in the decoder's tail.
    def count(**cfg):
        return sum(p.numel() for p in create_model("sscf", **cfg).parameters())

    assert count(release=True) == 53_700_417
    assert count() / 1e6 == pytest.approx(53.7, abs=0.05)


def test_structure_separate_and_shared_encoders_and_calibrators():
    sscf = _tiny("sscf", window=5)
    assert len(sscf.encoders) == 5 and len(sscf.fusions) == 4
    assert all(len(f.calibrators) == 4 for f in sscf.fusions)  # own ASSC per stage and per offset
    assert len(_tiny("baseline_bssf", window=5).encoders) == 1
    assert len(_tiny("baseline_tce", window=3).encoders) == 3
    assert len(_tiny("sscf", window=1).encoders) == 1  # k = 1: one shared encoder


@pytest.mark.parametrize("calibration", ["matmul", "elementwise"])
def test_dynamic_kernel_is_per_sample(calibration):
    model = _tiny("sscf", calibration=calibration, dilations=(1, 2)).eval()
    x = torch.rand(3, 3, H, W)
    x2 = x.clone()
    x2[1] = torch.rand(3, H, W)
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    assert torch.equal(y[0], y2[0]) and torch.equal(y[2], y2[2])
    assert not torch.allclose(y[1], y2[1])


def test_gradients_reach_every_encoder_and_calibration_parameter():
    model = _tiny("sscf", window=3).train()
    model(torch.rand(2, 3, H, W)).square().mean().backward()
    for j, enc in enumerate(model.encoders):
        assert enc.stem[0].weight.grad.abs().sum() > 0, f"encoder {j}"
    for s, fusion in enumerate(model.fusions):
        for n, assc in enumerate(fusion.calibrators):
            for pname in ("tq.weight", "tk.weight", "g"):
                grad = assc.get_parameter(pname).grad
                assert grad is not None and grad.abs().sum() > 0, f"stage {s} neighbour {n} {pname}"


@pytest.mark.parametrize("name", available_models())
def test_state_dict_keys_stable_across_forward_and_safetensors_round_trip(name, tmp_path):
    model = _tiny(name, window=max(_windows(name))).eval()
    keys = list(model.state_dict())
    x = torch.rand(2, model.window, H, W)
    model.train()
    model(x)  # a training-mode forward (BatchNorm statistics, auxiliary stash) must not add keys either
    model.eval()
    with torch.no_grad():
        y = model(x)
    assert list(model.state_dict()) == keys
    cfg = _tiny_cfg(name, **({} if name == "unet" else {"window": model.window}))
    path = save_model(tmp_path / "m.safetensors", model, name, cfg)
    loaded, info = load_model(path)
    assert info.model == name and info.model_cfg == cfg
    with torch.no_grad():
        assert torch.equal(loaded(x), y)


@pytest.mark.parametrize("name", available_models())
def test_every_model_is_batch_independent(name):
    # eval mode: one sample's output does not depend on the other samples of its batch
    model = _tiny(name, window=max(_windows(name))).eval()
    x = torch.rand(3, model.window, H, W)
    x2 = x.clone()
    x2[1] = torch.rand(model.window, H, W)
    with torch.no_grad():
        y, y2, alone = model(x), model(x2), model(x[2:3])
    torch.testing.assert_close(y[0], y2[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y[2], y2[2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y[2:3], alone, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(y[1], y2[1])


@pytest.mark.parametrize("name", available_models())
def test_gradients_reach_every_parameter(name):
    # the supervised output plus the model's own auxiliary losses (flow, motion, label coherence)
    from echoseg.models.auxiliary import collect_auxiliary_losses

    torch.manual_seed(0)
    model = _tiny(name, window=max(_windows(name))).train()
    x = torch.rand(2, model.window, H, W)
    target = (torch.rand(2, 1, H, W) > 0.5).float()
    logits = model(x)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    for value in collect_auxiliary_losses(model, target, 2).values():
        loss = loss + value
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def _float64_reference(assc, neighbour, target):
    ref = ASSC(assc.channels, assc.dilations, kernel=assc.kernel, scale=assc.scale,
               transform_padding=assc.transform_padding, formulation="grouped").double()
    ref.load_state_dict({k: v.double() for k, v in assc.state_dict().items()})
    return reference_calibration(ref, neighbour.double(), target.double())


@pytest.mark.parametrize("kernel,formulation", [("matmul", "factored"), ("matmul", "grouped"),
                                                ("matmul", "unfold"), ("elementwise", "grouped"),
                                                ("elementwise", "unfold")])
@pytest.mark.parametrize("dilations", [(1,), (1, 2, 3)])
@pytest.mark.parametrize("scale,padding", [("centred", 1), ("sqrt_m", 1), ("raw", 0)])
def test_assc_formulations_equal_float64_reference(kernel, formulation, dilations, scale, padding):
    c = 12
    assc = ASSC(c, dilations, kernel=kernel, scale=scale, formulation=formulation, transform_padding=padding)
    with torch.no_grad():  # a trained-looking G, not all ones, so channel mixing is really tested
        assc.g.normal_(1.0, 0.5)
    neighbour, target = torch.randn(3, c, 10, 14), torch.randn(3, c, 10, 14)
    expected = _float64_reference(assc, neighbour, target)
    got = assc(neighbour, target).double()
    err = (got - expected).abs().max() / expected.abs().max()
    assert err < 1e-5, err
    # channels_last input gives the same result
    got_cl = assc(neighbour.contiguous(memory_format=torch.channels_last), target).double()
    assert ((got_cl - expected).abs().max() / expected.abs().max()) < 1e-5


def test_summarize_pools_to_84_values_per_channel():
    x = torch.arange(2 * 3 * 7 * 7, dtype=torch.float32).reshape(2, 3, 7, 7)
    s = summarize(x)
    assert s.shape == (2, 3, 84)
    assert torch.equal(s[:, :, 0], x.amax(dim=(2, 3)))
    assert torch.equal(s[:, :, 35:], x.reshape(2, 3, 49))  # 7x7 pool of a 7x7 map is the map itself
    assert summarize(torch.rand(1, 2, 2, 3)).shape == (1, 2, 84)  # smaller than 7x7 still works
    for layout in (torch.contiguous_format, torch.channels_last):
        y = torch.randn(2, 5, 10, 13).contiguous(memory_format=layout)
        expected = torch.cat([torch.nn.functional.adaptive_max_pool2d(y, s).reshape(2, 5, -1) for s in (1, 3, 5, 7)], 2)
        assert torch.equal(summarize(y), expected)


def test_sliced_adaptive_max_pool_equals_torch():
    from echoseg.models.calibration import _adaptive_max_pool_sliced

    for h, w in [(2, 3), (7, 7), (10, 14), (16, 16), (5, 11)]:
        x = torch.randn(2, 3, h, w)
        for s in (1, 3, 5, 7):
            assert torch.equal(_adaptive_max_pool_sliced(x, s), torch.nn.functional.adaptive_max_pool2d(x, s))


def test_the_exported_channels_last_summary_equals_torchs_adaptive_pooling():
    # the form ONNX export takes (summarize under torch.onnx export): bins and values unchanged
    from echoseg.models.calibration import _summary_sliced_channels_last

    for h, w in [(2, 3), (4, 4), (7, 7), (10, 14), (32, 32)]:
        x = torch.randn(2, 5, h, w)
        expected = torch.cat([torch.nn.functional.adaptive_max_pool2d(x, s).reshape(2, 5, -1) for s in (1, 3, 5, 7)], 2)
        assert torch.equal(_summary_sliced_channels_last(x, (1, 3, 5, 7)), expected)
        assert torch.equal(_summary_sliced_channels_last(x, (3, 1)), torch.cat([expected[:, :, 1:10], expected[:, :, :1]], 2))


def test_factored_and_normalized_calibration_keeps_unit_scale():
    c = 64
    assc = ASSC(c).eval()
    x = torch.rand(2, c, 8, 8)
    with torch.no_grad():
        y = assc(x, x)
    # G = ones and A in (0, 1): each output is a weighted local mean of x, within x's range
    assert 0 < y.mean() < x.mean() and y.max() <= x.max() + 1e-6


def _explicit_windows(video_u8, k):
    t = video_u8.shape[0]
    idx = window_indices(t, k, torch.arange(t))
    return torch.from_numpy(video_u8).float().div(255.0)[idx]  # (T, k, H, W)


@pytest.mark.parametrize("name,k", [("sscf", 3), ("baseline", 5), ("baseline_bssf", 3), ("unet", 1),
                                    ("baseline_tce", 3)])
def test_predict_video_equals_forward_on_edge_replicated_windows(name, k):
    model = _tiny(name, **({} if name == "unet" else {"window": k})).eval()
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, size=(7, H, W), dtype=np.uint8)
    with torch.no_grad():
        expected = torch.sigmoid(model(_explicit_windows(video, k)))[:, 0].numpy()
    for batch_size in (1, 3, 16):
        got = predict_video_probs(model, video, batch_size=batch_size)
        assert got.shape == (7, H, W) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)
    got_cl = predict_video_probs(model, torch.from_numpy(video), batch_size=4, channels_last=True)
    np.testing.assert_allclose(got_cl, expected, atol=1e-4)
    assert next(model.parameters()).is_contiguous()  # layout restored


def test_window_indices_replicate_the_edges():
    idx = window_indices(4, 5, torch.arange(4))
    assert idx.tolist() == [[0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [0, 1, 2, 3, 3], [1, 2, 3, 3, 3]]
    assert window_indices(1, 3, torch.arange(1)).tolist() == [[0, 0, 0]]


@pytest.mark.parametrize("name", ["baseline", "baseline_bssf"])
def test_shared_encoder_forward_equals_encoding_each_position_separately(name):
    model = _tiny(name, window=3).eval()
    x = torch.rand(2, 3, H, W)
    with torch.no_grad():
        naive = model.decode_window([model.encode_frames(x[:, j:j + 1], j) for j in range(3)])
        torch.testing.assert_close(model(x), naive, rtol=1e-5, atol=1e-6)


def test_shared_encoder_encodes_each_frame_once():
    model = _tiny("baseline", window=5).eval()
    calls = []
    model.encoders[0].register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    predict_video_probs(model, np.zeros((9, H, W), np.uint8), batch_size=4)
    assert sum(calls) == 9


def test_predict_video_restores_training_mode_and_leaves_weights_alone():
    model = _tiny("sscf").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    predict_video_probs(model, np.zeros((3, H, W), np.uint8))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats untouched


def test_predict_video_rejects_bad_input():
    model = _tiny("unet").eval()
    with pytest.raises(ValueError, match="multiples of 16"):
        predict_video_probs(model, np.zeros((3, 30, 32), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        predict_video_probs(model, np.zeros((3, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        predict_video_probs(model, np.zeros((32, 32), np.uint8))


def test_bfloat16_autocast_stays_close():
    model = _tiny("sscf").eval()
    video = np.random.default_rng(1).integers(0, 256, size=(4, H, W), dtype=np.uint8)
    fp32 = predict_video_probs(model, video)
    bf16 = predict_video_probs(model, video, autocast_dtype=torch.bfloat16)
    assert np.abs(fp32 - bf16).max() < 0.1


def test_onnx_export_matches_onnxruntime(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from echoseg.inference.export import export_onnx

    model = _tiny("sscf").eval()
    assert export_onnx(model, tmp_path / "m.onnx", (H, W)) < 1e-4
    assert (tmp_path / "m.onnx").stat().st_size > 0


@pytest.mark.parametrize("name", available_models())
def test_folded_batchnorm_copy_computes_the_same(name):
    from echoseg.models.fold_bn import fold_batchnorm

    model = _tiny(name).train()
    x = torch.rand(2, model.window, H, W)
    for _ in range(2):  # non-trivial running statistics
        model(x)
    model.eval()
    count = lambda m: sum(isinstance(b, torch.nn.modules.batchnorm._BatchNorm) for b in m.modules())  # noqa: E731
    before = count(model)
    folded = fold_batchnorm(model)
    assert count(model) == before > 0  # the original is untouched
    if name in ("unet", "baseline", "baseline_tce", "baseline_bssf", "sscf"):
        assert count(folded) == 0  # every BatchNorm of the SSCF family follows a conv it folds into
    # (the competitors may keep some: BatchNorm3d, a bottleneck's third conv; the output is what counts)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


def test_bench_model_quick_prints_the_tables(capsys):
    from echoseg.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "model", "--quick", "--variants", "sscf,baseline", "--k", "1,3", "--time-k", "3",
              "--modes", "channels_last", "--no-preset", "--no-ratios", "--frames", "2"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "| sscf | 3 |" in out and "| baseline | 1 |" in out and "ASSC per encoder stage" in out
