"""Fourier domain adaptation of the mean teacher's labelled windows (mean_teacher.fourier_style)."""

import copy

import pytest
import torch

from echoseg.config import ConfigError
from echoseg.training import resolve_config
from echoseg.training.fourier_style import fourier_style, low_frequency_mask
from test_mean_teacher import untrained_trainer


def windows(seed: int, n: int, offset: float, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return offset + scale * torch.rand(n, 3, 32, 32, generator=g)


def test_low_frequencies_come_from_the_style_and_the_rest_from_the_window():
    source, style = windows(0, 4, 0.3, 0.4), windows(1, 2, 0.2, 0.2)  # no value reaches 0 or 1: no clipping
    styled = fourier_style(source, style, 0.1)
    low = low_frequency_mask(32, 32, 0.1)
    assert int(low.sum()) == 7 * 7  # frequencies -3..3 on each axis
    out, src = torch.fft.fft2(styled.double()), torch.fft.fft2(source.double())
    target = torch.fft.fft2(style[torch.tensor([0, 1, 0, 1])].double())  # window i takes style i mod 2
    assert torch.allclose(out.abs()[..., low], target.abs()[..., low], atol=1e-3)
    assert torch.allclose(out[..., ~low], src[..., ~low], atol=1e-3)  # amplitude and phase of the rest kept
    assert torch.allclose(styled.mean(dim=(2, 3)), style[torch.tensor([0, 1, 0, 1])].mean(dim=(2, 3)), atol=1e-4)


def test_structures_stay_where_they_were():
    source = torch.full((1, 3, 32, 32), 0.2)
    source[..., 10:20, 12:22] = 0.8  # a bright block: the "cavity wall" the labels describe
    styled = fourier_style(source, windows(2, 1, 0.0, 1.0), 0.05)
    assert styled.shape == source.shape and 0 <= float(styled.min()) and float(styled.max()) <= 1
    inside = styled[..., 11:19, 13:21].mean()
    outside = torch.cat([styled[..., :8, :].flatten(), styled[..., 24:, :].flatten()]).mean()
    # The block's own lowest frequencies are replaced by the noise's, so its contrast falls (0.6 -> 0.3
    # here); its place and edges, carried by the phase and the higher frequencies, stay.
    assert float(inside - outside) > 0.25


def test_zero_beta_or_no_style_is_the_identity():
    source = windows(3, 2, 0.0, 1.0)
    assert fourier_style(source, windows(4, 2, 0.0, 1.0), 0.0) is source
    assert fourier_style(source, source[:0], 0.1) is source
    with pytest.raises(ValueError, match="do not match"):
        fourier_style(source, torch.rand(2, 3, 16, 16), 0.1)


def test_mean_teacher_styles_its_labelled_windows_with_the_unlabelled_ones(tmp_path):
    plain = untrained_trainer(tmp_path / "a")
    styled = untrained_trainer(tmp_path / "b", "mean_teacher.fourier_style=0.1")
    batch = plain.dataset[2]
    seen = {}
    for name, trainer in (("plain", plain), ("styled", styled)):
        model = copy.deepcopy(trainer.student)
        hook = trainer.student.register_forward_pre_hook(lambda m, args, name=name: seen.setdefault(name, args[0]))
        trainer.compute_loss(batch)
        hook.remove()
        trainer.student.load_state_dict(model.state_dict())
    n = batch["labeled"].shape[0]
    labelled = plain._input(batch["labeled"])
    assert torch.equal(seen["plain"][:n], labelled)
    expected = fourier_style(labelled, plain._input(batch["teacher"]), 0.1)
    assert torch.allclose(seen["styled"][:n], expected, atol=1e-6)
    assert float((seen["styled"][:n] - labelled).abs().mean()) > 0.01


def test_fourier_style_setting_is_checked():
    assert resolve_config("cpu").mean_teacher.fourier_style == 0.0
    with pytest.raises(ConfigError, match="fourier_style"):
        resolve_config(None, ["mean_teacher.fourier_style=0.5"])
