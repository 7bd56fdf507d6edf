"""The competitor networks (models/baselines): flow warping, the ConvLSTM, how each model reads its
window, the auxiliary-loss seam in the trainer, and that every competitor learns a toy task.

The registry-wide contract tests (shapes, batch independence, gradients, state_dict round trip)
live in test_models.py and cover these models too."""

import copy
import csv

import numpy as np
import pytest
import torch
import torch.nn as nn

from _training_data import TinyNet, ellipse_dataset, tiny_overrides
from echoseg.models import create_model
from echoseg.models.auxiliary import collect_auxiliary_losses
from echoseg.models.baselines import BASELINES
from echoseg.models.baselines.clstm import ConvLSTMCell
from echoseg.models.baselines.flow import FlowNet, photometric_loss, resize_flow, smoothness_loss, warp
from echoseg.models.baselines.planet import same_label_maps
from echoseg.models.baselines.tdnet import attention_propagate
from echoseg.models.registry import model_entry
from echoseg.training import resolve_config, train
from echoseg.training.losses import supervised_loss

TINY = 0.125
H, W = 32, 48


def _constant_flow(b, h, w, dx, dy):
    flow = torch.zeros(b, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_warp_by_a_known_integer_shift_moves_the_image():
    src = torch.rand(2, 3, 20, 24)
    out = warp(src, _constant_flow(2, 20, 24, dx=3.0, dy=-2.0))
    # out(y, x) = src(y - 2, x + 3) wherever that lies inside the image
    torch.testing.assert_close(out[:, :, 2:, :-3], src[:, :, :-2, 3:], rtol=0, atol=1e-5)
    # outside, the border is replicated
    torch.testing.assert_close(out[:, :, 5, -1], src[:, :, 3, -1], rtol=0, atol=1e-5)


def test_warp_by_a_half_pixel_interpolates_and_zero_flow_is_identity():
    src = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 4, 10).contiguous()
    out = warp(src, _constant_flow(1, 4, 10, dx=0.5, dy=0.0))
    torch.testing.assert_close(out[0, 0, :, :-1], src[0, 0, :, :-1] + 0.5)
    torch.testing.assert_close(warp(src, torch.zeros(1, 2, 4, 10)), src)


def test_warp_gradient_reaches_the_flow_and_photometric_loss_finds_the_shift():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = lambda cx: torch.exp(-((xx - cx) ** 2 + (yy - 16) ** 2) / 30.0).view(1, 1, 32, 32)  # noqa: E731
    target, source = blob(14.0), blob(16.0)  # the source is the target moved 2 px right
    right = _constant_flow(1, 32, 32, 2.0, 0.0)
    wrong = _constant_flow(1, 32, 32, -2.0, 0.0)
    assert photometric_loss(target, source, right) < 0.3 * photometric_loss(target, source, wrong)
    flow = torch.zeros(1, 2, 32, 32, requires_grad=True)
    photometric_loss(target, source, flow, robust=False).backward()
    assert flow.grad[0, 0].sum() < 0  # descending the loss increases dx, towards the true +2


def test_resize_flow_scales_the_vectors_with_the_grid():
    flow = _constant_flow(1, 5, 9, dx=1.0, dy=2.0)  # 1/4 of a 17 x 33 grid (align_corners)
    big = resize_flow(flow, (17, 33))
    torch.testing.assert_close(big[0, 0], torch.full((17, 33), 4.0))
    torch.testing.assert_close(big[0, 1], torch.full((17, 33), 8.0))


def test_smoothness_is_zero_for_constant_flow_and_positive_otherwise():
    flat = _constant_flow(1, 8, 8, 1.5, -0.5)
    rough = torch.randn(1, 2, 8, 8)
    for kind in ("l1", "l2", "huber", "second"):
        assert float(smoothness_loss(flat, kind)) == 0.0
        assert float(smoothness_loss(rough, kind)) > 0.0
    with pytest.raises(ValueError, match="smoothness"):
        smoothness_loss(flat, "tv")


def test_convlstm_carries_its_state_across_frames():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 4)
    frames = [torch.randn(2, 3, 6, 7) for _ in range(3)]
    state = None
    for f in frames:
        state = cell(f, state)
    h_from_zero = cell(frames[-1], None)[0]
    assert not torch.allclose(state[0], h_from_zero)  # the history changed the last output
    # the model: sequence_logits over frames = stepping with the returned state
    model = create_model("clstm", width=TINY, window=5).eval()
    video = [torch.rand(1, 1, H, W) for _ in range(4)]
    with torch.no_grad():
        all_at_once, _ = model.sequence_logits(video)
        first, state = model.sequence_logits(video[:2])
        rest, _ = model.sequence_logits(video[2:], state)
    for a, b in zip(all_at_once, first + rest, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# frames each model reads from a window of 5 centred on index 2 (0 = oldest)
READS = {"dff": {0, 2}, "accel": {0, 1, 2}, "tdnet": {0, 1, 2}, "clstm": {0, 1, 2}, "joint_net": {0, 1, 2, 3, 4},
         "simlvseg3d": {0, 1, 2, 3, 4}}


@pytest.mark.parametrize("name", sorted(READS))
def test_models_read_the_frames_their_method_uses(name):
    # online methods never look at the future; two-frame and 3D ones use the whole window
    torch.manual_seed(0)
    model = create_model(name, width=TINY, window=5).eval()
    for module in model.modules():  # trained-looking flow, not the near-zero initial flow
        if isinstance(module, FlowNet):
            nn.init.normal_(module.predict.weight, std=1.0)
    x = torch.rand(1, 5, H, W)
    with torch.no_grad():
        base = model(x)
        for j in range(5):
            changed = x.clone()
            changed[0, j] = torch.rand(H, W)
            moved = not torch.allclose(model(changed), base, atol=1e-6)
            assert moved == (j in READS[name]), f"frame {j}"


def test_joint_motion_segments_the_centre_frame_alone_at_inference():
    model = create_model("joint_motion", width=TINY, window=3).eval()
    x = torch.rand(2, 3, H, W)
    changed = x.clone()
    changed[:, 0] = torch.rand(2, H, W)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(changed))
    model.train()
    model(x)
    assert set(collect_auxiliary_losses(model, None, 0)) == {"motion"}


def test_single_frame_models_refuse_windows_and_temporal_ones_too_short_windows():
    for name in ("mfp_net", "transunet", "planet", "echonet_deeplabv3"):
        with pytest.raises(ValueError, match="exactly k=1"):
            create_model(name, window=3)
    for name in ("dff", "accel", "tdnet", "joint_motion", "joint_net"):
        with pytest.raises(ValueError, match="window k in 3"):
            create_model(name, window=1)
    with pytest.raises(TypeError, match="flow_weight"):
        create_model("transunet", flow_weight=1.0)
    with pytest.raises(ValueError, match="multiples of 16"):
        create_model("dff", width=TINY)(torch.rand(1, 3, 40, 48))


def test_attention_propagation_follows_matching_keys():
    # keys = queries of a permuted grid, sharply scaled: each position fetches the value it matches
    torch.manual_seed(0)
    b, d, h, w = 1, 16, 3, 4
    queries = torch.randn(b, d, h, w) * 20
    perm = torch.randperm(h * w)
    keys = queries.flatten(2)[:, :, perm].view(b, d, h, w)
    values = torch.randn(b, 5, h, w)
    out = attention_propagate(keys, values, queries)
    inverse = torch.argsort(perm)
    torch.testing.assert_close(out.flatten(2), values.flatten(2)[:, :, inverse], rtol=1e-3, atol=1e-3)


def test_same_label_maps_mark_boundaries_and_image_edges():
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, :, 2:] = 1
    same, valid = same_label_maps(mask)
    right = 4  # NEIGHBOURS[4] = (0, +1)
    assert same[0, right, 0].tolist() == [1.0, 0.0, 1.0, 0.0]  # x=1 -> x=2 crosses; x=3 has no neighbour
    assert valid[0, right, 0].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert valid.sum() == 8 * 16 - (4 * 4 * 3 - 4)  # 3 of 8 neighbours missing per side pixel, 5 at corners


# ------------------------------------------------------------------ the auxiliary-loss seam


class AuxTiny(TinyNet):
    """TinyNet with a known auxiliary loss: 2 x mean of the first conv's weight squared."""

    def forward(self, x):
        out = super().forward(x)
        self.stash_auxiliary(weight=self.body[0].weight)
        return out

    def compute_auxiliary_losses(self, stash, target, n_labeled):
        # the contract: the first n_labeled windows' masks, or None for a pass without labelled windows
        # (the mean-teacher student's separate unlabelled pass)
        assert (target is None) if n_labeled == 0 else target.shape[0] == n_labeled
        return {"toy": 2.0 * stash["weight"].pow(2).mean()}


def test_auxiliary_stash_only_in_training_with_gradients_and_is_used_once():
    model = AuxTiny()
    x, mask = torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8)
    model.eval()
    model(x)
    assert collect_auxiliary_losses(model, mask, 2) == {}
    model.train()
    with torch.no_grad():
        model(x)
    assert collect_auxiliary_losses(model, mask, 2) == {}
    model(x)
    copied = copy.deepcopy(model)  # EMA teacher / BatchNorm folding copy a model after a training forward
    assert collect_auxiliary_losses(copied, mask, 2) == {}
    assert set(collect_auxiliary_losses(model, mask, 2)) == {"toy"}
    assert collect_auxiliary_losses(model, mask, 2) == {}  # popped
    assert collect_auxiliary_losses(nn.Conv2d(1, 1, 1)) == {}  # models without the hook


@pytest.mark.parametrize("mean_teacher", [False, True])
def test_trainer_adds_the_models_auxiliary_losses_to_the_total(tmp_path, mean_teacher):
    config = resolve_config(None, tiny_overrides(steps=2) + [f"mean_teacher.enabled={mean_teacher}",
                                                             "runtime.log_interval=1"])
    torch.manual_seed(0)
    train(config, out_dir=tmp_path / "run", samples=ellipse_dataset(n_train=2, n_val=1), model=AuxTiny())
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv")) if r.get("loss")]
    assert len(rows) == 2
    for row in rows:
        cons = float(row["lambda"]) * float(row["loss_cons"]) if mean_teacher else 0.0
        assert float(row["loss_aux"]) > 0
        assert float(row["loss"]) == pytest.approx(float(row["loss_sup"]) + cons + float(row["loss_aux"]), rel=1e-5)


# ------------------------------------------------------------------ every competitor learns


def _toy_batch(rng: np.random.Generator, window: int, n: int = 4, size: int = 32):
    """Windows of a bright disc drifting 1 px per frame on noise; the centre frame's disc is the mask."""
    yy, xx = np.mgrid[0:size, 0:size]
    x = np.empty((n, window, size, size), np.float32)
    mask = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        cy, cx, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(5, 8)
        for j in range(window):
            disc = (yy - cy) ** 2 + (xx - cx - (j - window // 2)) ** 2 <= r * r
            x[i, j] = np.clip(0.3 + 0.4 * disc + 0.1 * rng.standard_normal((size, size)), 0, 1)
            if j == window // 2:
                mask[i, 0] = disc
    return torch.from_numpy(x), torch.from_numpy(mask)


def _best_constant_loss(mask: torch.Tensor) -> float:
    """The lowest supervised loss any image-independent prediction (one probability everywhere) gets."""
    return min(float(supervised_loss(torch.full_like(mask, float(np.log(p / (1 - p)))), mask)["loss"])
               for p in np.linspace(0.02, 0.98, 49))


# the competitors that take more than a few seconds on 2 shared cores learn in the slow suite
FAST_TO_TRAIN = {"joint_motion", "mfp_net"}


@pytest.mark.parametrize("name", [n if n in FAST_TO_TRAIN else pytest.param(n, marks=pytest.mark.slow)
                                  for n in BASELINES])
def test_every_competitor_learns_a_toy_task(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    fixed = getattr(model_entry(name).factory, "fixed_size", False)  # echonet_deeplabv3: one size, no width
    model = create_model(name, **({} if fixed else {"width": TINY})).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses, constant = [], []
    for _ in range(40):
        x, mask = _toy_batch(rng, model.window)
        supervised = supervised_loss(model(x), mask)["loss"]
        loss = supervised + sum(collect_auxiliary_losses(model, mask, mask.shape[0]).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(supervised.detach()))
        constant.append(_best_constant_loss(mask))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.8 * first, (first, last)  # the loss fell
    assert last < np.mean(constant[-3:]), (last, np.mean(constant[-3:]))  # and the masks depend on the images


def test_channels_last_inference_works_for_a_3d_model():
    # channels_last applies to the 4-D weights; a Conv3d's 5-D weights stay as they are
    from echoseg.models.benchmark import video_ms_per_frame
    from echoseg.models.video import predict_video_probs

    model = create_model("simlvseg3d", width=TINY, window=3).eval()
    video = np.random.default_rng(0).integers(0, 256, size=(4, H, W), dtype=np.uint8)
    expected = predict_video_probs(model, video)
    np.testing.assert_allclose(predict_video_probs(model, video, channels_last=True), expected, atol=1e-5)
    assert all(p.is_contiguous() for p in model.parameters())  # restored
    assert video_ms_per_frame(model, "channels_last", 32, 2, 2, 1) > 0
