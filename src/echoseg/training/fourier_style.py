"""Fourier domain adaptation (Yang & Soatto, CVPR 2020) for the mean teacher's labelled windows.

Each labelled (synthetic) window takes the low-frequency amplitude spectrum of an unlabelled (target-domain)
window and keeps its own phase: the picture's structures, and so its labels, stay where they are, while its
large-scale brightness, gain over depth and contrast become the target video's. No label of the target
domain is used, only its frames; `adapt` points it at the user's own videos.
"""

from __future__ import annotations

import torch


def low_frequency_mask(height: int, width: int, beta: float, device: torch.device | None = None) -> torch.Tensor:
    """Bool (H, W) of the unshifted 2-D FFT's frequencies within beta x min(H, W) of zero on each axis."""
    half = int(beta * min(height, width))
    fy = torch.fft.fftfreq(height, 1.0 / height, device=device).abs()
    fx = torch.fft.fftfreq(width, 1.0 / width, device=device).abs()
    return (fy[:, None] <= half) & (fx[None, :] <= half)


def fourier_style(windows: torch.Tensor, style: torch.Tensor, beta: float) -> torch.Tensor:
    """windows (B, k, H, W) in [0, 1] with the low-frequency amplitude of style (S, k, H, W), S >= 1: window i
    takes style window i mod S, frame by frame. beta 0 returns the windows unchanged. Result in [0, 1]."""
    if beta <= 0 or style.shape[0] == 0:
        return windows
    if style.shape[1:] != windows.shape[1:]:
        raise ValueError(f"style windows {tuple(style.shape)} do not match labelled windows {tuple(windows.shape)}")
    source = windows.float()
    index = torch.arange(source.shape[0], device=source.device) % style.shape[0]
    spectrum = torch.fft.fft2(source)
    target_amplitude = torch.fft.fft2(style[index].float()).abs()
    low = low_frequency_mask(*source.shape[-2:], beta, source.device)
    amplitude = torch.where(low, target_amplitude, spectrum.abs())
    styled = torch.fft.ifft2(torch.polar(amplitude, spectrum.angle())).real
    return styled.clamp_(0.0, 1.0).to(windows.dtype)
