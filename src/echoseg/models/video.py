"""Whole-video inference: probabilities for every frame from a sliding window of k frames.

The window centred on frame t reads frames t-r .. t+r (r = k // 2), indices clamped to the video
(edge replication: the first and last frames repeat). Windows are processed in batches of
`batch_size` centre frames. With a shared encoder each frame is encoded once and its features are
reused by the k windows that contain it; with k separate encoders (TCE) frame t must go through
encoder j for each position j it appears at, so it is encoded k times, once per encoder.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn as nn

from echoseg.models.contract import check_spatial


def predict_video_probs(model: nn.Module, video, *, batch_size: int = 16, device=None,
                        autocast_dtype: torch.dtype | None = None, channels_last: bool = False) -> np.ndarray:
    """Per-frame foreground probabilities of a video.

    video: uint8 (T, H, W) numpy array or tensor (H, W multiples of 16; resize beforehand).
    device: where to run (default: the model's device; a model elsewhere is moved there and stays).
    autocast_dtype: e.g. torch.bfloat16 for mixed precision (on CPU the fastest mode we measured).
    channels_last: run in NHWC memory layout (faster on CPU; the model is converted for the call and
    restored afterwards). The model runs in eval mode; a model in training mode is put back in it
    afterwards, so a trainer can validate its student in the middle of training.
    Returns float32 (T, H, W) in [0, 1].
    """
    frames = torch.as_tensor(np.asarray(video) if not isinstance(video, torch.Tensor) else video)
    if frames.ndim != 3:
        raise ValueError(f"expected a video (T, H, W), got shape {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 video, got {frames.dtype}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_frames, h, w = frames.shape
    check_spatial(h, w, model.min_input)
    model_device = next(model.parameters()).device
    device = model_device if device is None else torch.device(device)
    if device != model_device:
        model.to(device)
    out = np.empty((n_frames, h, w), dtype=np.float32)
    if n_frames == 0:
        return out
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    amp = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None
           else contextlib.nullcontext())
    was_training = model.training
    model.eval()
    try:
        with _memory_format(model, fmt), torch.inference_mode(), amp:
            for start, probs in _iter_batches(model, frames, batch_size, device, fmt):
                out[start:start + probs.shape[0]] = probs
    finally:
        model.train(was_training)
    return out


def set_memory_format(model: nn.Module, fmt: torch.memory_format) -> nn.Module:
    """Put the model's 4-D parameters and buffers in memory format `fmt`, in place; returns the model.

    Unlike `model.to(memory_format=torch.channels_last)`, which refuses any model with 5-D weights,
    this leaves other tensors (a Conv3d's weights, LayerNorm's vectors) as they are."""
    for module in model.modules():
        for tensors in (module._parameters, module._buffers):
            for tensor in tensors.values():
                if tensor is not None and tensor.ndim == 4:
                    tensor.data = tensor.data.contiguous(memory_format=fmt)
    return model


@contextlib.contextmanager
def _memory_format(model: nn.Module, fmt: torch.memory_format):
    """Run with the model's 4-D weights in `fmt`; a model converted here is converted back after."""
    weights = [p for p in model.parameters() if p.ndim == 4]
    if fmt == torch.contiguous_format or all(p.is_contiguous(memory_format=fmt) for p in weights):
        yield
        return
    set_memory_format(model, fmt)
    try:
        yield
    finally:
        set_memory_format(model, torch.contiguous_format)


def window_indices(n_frames: int, window: int, centres: torch.Tensor) -> torch.Tensor:
    """(len(centres), window) frame indices of the windows centred on `centres`, edge-replicated."""
    r = window // 2
    offsets = torch.arange(-r, r + 1)
    return (centres[:, None] + offsets[None, :]).clamp(0, n_frames - 1)


def _to_input(frames_u8: torch.Tensor, device: torch.device, fmt: torch.memory_format) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H, W) in [0, 1] on `device`."""
    x = frames_u8.to(device=device, dtype=torch.float32).div_(255.0).unsqueeze(1)
    return x.contiguous(memory_format=fmt)


def _iter_batches(model, frames: torch.Tensor, batch_size: int, device, fmt):
    """Yield (first centre index, probabilities float32 (B, H, W) numpy) batch by batch."""
    n_frames = frames.shape[0]
    k = model.window
    shared = model.splits_frames and model.shared_encoder
    cache_start, cache = 0, None  # features of frames cache_start .. cache_start + len - 1
    for start in range(0, n_frames, batch_size):
        centres = torch.arange(start, min(start + batch_size, n_frames))
        idx = window_indices(n_frames, k, centres)
        if shared:
            lo, hi = int(idx.min()), int(idx.max()) + 1
            cache_start, cache = _extend_cache(model, frames, cache_start, cache, lo, hi, device, fmt)
            local = idx - cache_start
            feats = [[f[local[:, j]] for f in cache] for j in range(k)]
            logits = model.decode_window(feats)
        elif model.splits_frames:
            feats = [model.encode_frames(_to_input(frames[idx[:, j]], device, fmt), j) for j in range(k)]
            logits = model.decode_window(feats)
        else:  # any model honouring the contract: (B, k, H, W) -> (B, 1, H, W)
            x = _to_input(frames[idx.reshape(-1)], device, torch.contiguous_format).reshape(len(centres), k, *frames.shape[1:])
            logits = model(x.contiguous(memory_format=fmt) if fmt != torch.contiguous_format else x)
        yield start, torch.sigmoid(logits.float())[:, 0].cpu().numpy()


def _extend_cache(model, frames, cache_start, cache, lo, hi, device, fmt):
    """Features of frames lo..hi-1, reusing the previous batch's overlap (windows advance monotonically)."""
    if cache is None or lo >= cache_start + cache[0].shape[0]:
        return lo, model.encode_frames(_to_input(frames[lo:hi], device, fmt))
    keep_from = lo - cache_start
    cached_end = cache_start + cache[0].shape[0]
    new = model.encode_frames(_to_input(frames[cached_end:hi], device, fmt)) if hi > cached_end else None
    merged = []
    for s, f in enumerate(cache):
        kept = f[keep_from:]
        merged.append(torch.cat([kept, new[s]]) if new is not None else kept)
    return lo, merged
