"""Augmentations for training windows. No file logic: arrays in, arrays out.

Spatial (`SpatialAugment`): one transform is drawn per window and applied identically to its k
frames and its mask, so labels stay aligned with every frame the network sees: horizontal,
vertical and diagonal (transpose) flips, and a rotation in [-15, 15] degrees about the centre
(bilinear for frames, nearest neighbour for the mask so it stays binary; pixels rotated in from
outside the image are 0, like the black outside of the echo sector).

Intensity (`Perturb`): the views of an unlabelled window that the student and the teacher see must
differ for the consistency loss to teach anything. The paper is silent; we use perturbations that
mimic what varies between echo acquisitions: a brightness offset and contrast gain per window
(gain settings), multiplicative per-pixel noise (speckle is multiplicative) and a little additive
Gaussian noise (electronic noise). Each view gets its own independent draw; the spatial transform
is shared so the two predictions stay pixel-aligned.

Randomness comes from an explicit `numpy.random.Generator`, seeded by the caller from
(seed, step, slot): the same window at the same step is augmented the same way in any worker, on
any rank and after a resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echoseg.training.config import AugmentConfig, PerturbConfig


@dataclass
class SpatialParams:
    hflip: bool = False
    vflip: bool = False
    transpose: bool = False
    angle_deg: float = 0.0


class SpatialAugment:
    def __init__(self, config: AugmentConfig):
        self.config = config

    def draw(self, rng: np.random.Generator, square: bool) -> SpatialParams:
        c = self.config
        if not c.enabled:
            return SpatialParams()
        # Always draw the same number of values so the stream does not depend on the outcomes.
        u = rng.random(4)
        return SpatialParams(
            hflip=bool(u[0] < c.hflip),
            vflip=bool(u[1] < c.vflip),
            transpose=bool(square and u[2] < c.transpose),
            angle_deg=float((2 * u[3] - 1) * c.rotate_deg),
        )

    def __call__(self, frames: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """frames uint8 (k, H, W), mask bool/uint8 (H, W) or None -> same shapes, transformed together."""
        params = self.draw(rng, square=frames.shape[1] == frames.shape[2])
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
    if params.angle_deg != 0.0:
        k, h, w = frames.shape
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), params.angle_deg, 1.0)
        # cv2 works on (H, W, channels): the k frames are channels, so one call warps all of them.
        stacked = np.ascontiguousarray(frames.transpose(1, 2, 0))
        warped = cv2.warpAffine(stacked, matrix, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        frames = warped.reshape(h, w, k).transpose(2, 0, 1)
        if mask is not None:
            mask = cv2.warpAffine(np.ascontiguousarray(mask, dtype=np.uint8), matrix, (w, h),
                                  flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    frames = np.ascontiguousarray(frames)
    if mask is not None:
        mask = np.ascontiguousarray(mask, dtype=np.uint8)
    return frames, mask


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
