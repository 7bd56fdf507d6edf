"""Augmentations for training windows. No file logic: arrays in, arrays out.

Spatial (`SpatialAugment`): one transform is drawn per window and applied identically to its k
frames and its mask, so labels stay aligned with every frame the network sees: horizontal,
vertical and diagonal (transpose) flips, a rotation in [-15, 15] degrees about the centre, and
(when configured) a zoom and a shift, as depth and probe position vary between acquisitions
(bilinear for frames, nearest neighbour for the mask so it stays binary; pixels moved in from
outside the image are 0, like the black outside of the echo sector).

Appearance (`AppearanceAugment`): intensity changes that differ between scanners, presets and
patients: gain, contrast and gamma (the display chain), blur (resolution), multiplicative speckle
noise and a dim dropout patch. It never moves pixels, so masks need no change.

Perturbation (`Perturb`): the views of an unlabelled window that the student and the teacher see must
differ for the consistency loss to teach anything. The paper is silent; we use perturbations that
mimic what varies between echo acquisitions: a brightness offset and contrast gain per window
(gain settings), multiplicative per-pixel noise (speckle is multiplicative) and a little additive
Gaussian noise (electronic noise). Each view gets its own independent draw; the spatial transform
is shared so the two predictions stay pixel-aligned.

Randomness comes from an explicit `numpy.random.Generator`, seeded by the caller from
(seed, step, slot): the same window at the same step is augmented the same way in any worker, on
any rank and after a resume. Zoom/shift and appearance draw from it only when they are on, so
configs without them augment exactly as before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echoseg.training.config import AppearanceConfig, AugmentConfig, PerturbConfig

MAX_WARP_CHANNELS = 4


@dataclass
class SpatialParams:
    hflip: bool = False
    vflip: bool = False
    transpose: bool = False
    angle_deg: float = 0.0
    scale: float = 1.0  # zoom about the centre (> 1 enlarges)
    shift: tuple[float, float] = (0.0, 0.0)  # (dx, dy) pixels


class SpatialAugment:
    def __init__(self, config: AugmentConfig):
        self.config = config

    def draw(self, rng: np.random.Generator, square: bool, size: tuple[int, int] = (0, 0)) -> SpatialParams:
        """The transform of one window; `size` (H, W) scales the shift (pixels)."""
        c = self.config
        if not c.enabled:
            return SpatialParams()
        # Always draw the same number of values so the stream does not depend on the outcomes.
        u = rng.random(4)
        params = SpatialParams(
            hflip=bool(u[0] < c.hflip),
            vflip=bool(u[1] < c.vflip),
            transpose=bool(square and u[2] < c.transpose),
            angle_deg=float((2 * u[3] - 1) * c.rotate_deg),
        )
        if c.zoom > 0 or c.shift > 0:
            v = 2 * rng.random(3) - 1
            params.scale = float(1 + v[0] * c.zoom)
            params.shift = (float(v[1] * c.shift * size[1]), float(v[2] * c.shift * size[0]))
        return params

    def __call__(self, frames: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """frames uint8 (k, H, W), mask bool/uint8 (H, W) or None -> same shapes, transformed together."""
        params = self.draw(rng, square=frames.shape[1] == frames.shape[2], size=frames.shape[1:])
        return apply_spatial(frames, mask, params)


def apply_spatial(frames: np.ndarray, mask: np.ndarray | None, params: SpatialParams
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply `params` to frames (k, H, W) and mask (H, W); the same geometry for all of them."""
    if params.hflip:
        frames = frames[:, :, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if params.vflip:
        frames = frames[:, ::-1, :]
        mask = None if mask is None else mask[::-1, :]
    if params.transpose:
        frames = frames.transpose(0, 2, 1)
        mask = None if mask is None else mask.T
    if params.angle_deg != 0.0 or params.scale != 1.0 or params.shift != (0.0, 0.0):
        k, h, w = frames.shape
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), params.angle_deg, params.scale)
        matrix[:, 2] += params.shift
        # cv2 works on (H, W, channels): frames go in as channels, at most 4 per call, because OpenCV warps
        # uint8 images of more channels by another path with coarser bilinear weights (up to 6 grey levels off).
        warped = [cv2.warpAffine(np.ascontiguousarray(frames[i:i + MAX_WARP_CHANNELS].transpose(1, 2, 0)), matrix,
                                 (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                  .reshape(h, w, -1) for i in range(0, k, MAX_WARP_CHANNELS)]
        frames = np.concatenate(warped, axis=2).transpose(2, 0, 1)
        if mask is not None:
            mask = cv2.warpAffine(np.ascontiguousarray(mask, dtype=np.uint8), matrix, (w, h),
                                  flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    frames = np.ascontiguousarray(frames)
    if mask is not None:
        mask = np.ascontiguousarray(mask, dtype=np.uint8)
    return frames, mask


class AppearanceAugment:
    """Random appearance change of a uint8 window (k, H, W) -> uint8 (k, H, W); see AppearanceConfig."""

    def __init__(self, config: AppearanceConfig):
        self.config = config

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        if not c.enabled:
            return frames
        u = rng.random(10)  # a fixed count: the stream does not depend on which changes happen
        if u[0] >= c.prob:
            return frames
        k, h, w = frames.shape
        x = frames.astype(np.float32) * np.float32(1 / 255)
        # Display chain: contrast about the mean of the lit pixels, gain, gamma. Black stays black.
        lit = x > 0
        mean = np.float32(x[lit].mean()) if lit.any() else np.float32(0)
        x = np.where(lit, mean + (x - mean) * np.float32(1 + c.contrast * (2 * u[1] - 1)), x)
        x *= np.float32(1 + c.gain * (2 * u[2] - 1))
        np.clip(x, 0.0, 1.0, out=x)
        x **= np.float32(np.exp(c.gamma * (2 * u[3] - 1)))
        if u[4] < c.blur_prob:
            sigma = 0.3 + (c.blur_sigma - 0.3) * u[5]
            x = cv2.GaussianBlur(np.ascontiguousarray(x.transpose(1, 2, 0)), (0, 0), sigma).reshape(h, w, k)
            x = np.ascontiguousarray(x.transpose(2, 0, 1))
        if c.speckle > 0:
            x *= 1 + np.float32(c.speckle * u[6]) * rng.standard_normal(x.shape, dtype=np.float32)
        if u[7] < c.dropout_prob:
            centre = rng.random(2) * (w, h)
            radius = (0.1 + 0.15 * u[8]) * min(h, w)
            rows, cols = np.ogrid[0:h, 0:w]
            blob = np.exp(-0.5 * ((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / radius**2)
            x *= (1 - c.dropout_depth * u[9] * blob).astype(np.float32)
        return (np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class Perturb:
    """Random intensity perturbation of a float window (k, H, W) in [0, 1] -> float32 in [0, 1]."""

    def __init__(self, config: PerturbConfig):
        self.config = config

    def __call__(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        x = window.astype(np.float32, copy=True)
        if not c.enabled:
            return x
        gain, offset = rng.uniform(-1.0, 1.0, size=2)
        x = (x - 0.5) * np.float32(1.0 + c.contrast * gain) + np.float32(0.5 + c.brightness * offset)
        if c.speckle_std > 0:
            x *= 1.0 + np.float32(c.speckle_std) * rng.standard_normal(x.shape, dtype=np.float32)
        if c.gaussian_std > 0:
            x += np.float32(c.gaussian_std) * rng.standard_normal(x.shape, dtype=np.float32)
        return np.clip(x, 0.0, 1.0, out=x)
