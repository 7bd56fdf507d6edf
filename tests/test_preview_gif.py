"""predict's preview.gif: small, quick to write (fast octree palette, no dithering), and still showing the
grey image and the green contour faithfully."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageSequence

from echoseg.inference.outputs import write_gif


def test_preview_gif_keeps_grey_levels_and_the_contour_colour(tmp_path):
    rng = np.random.default_rng(0)
    grey = np.clip(rng.normal(90, 40, (12, 112, 112)), 0, 255).astype(np.uint8)
    grey[:, :, :56] = np.linspace(0, 255, 56).astype(np.uint8)  # a ramp: levels a palette must carry
    bgr = np.repeat(grey[..., None], 3, axis=-1)
    bgr[:, 30:80, 60] = (0, 255, 0)  # the contour, green in BGR and RGB
    write_gif(tmp_path / "preview.gif", bgr, fps=25.0)
    with Image.open(tmp_path / "preview.gif") as gif:
        frames = [np.asarray(f.convert("RGB")).astype(int) for f in ImageSequence.Iterator(gif)]
    assert len(frames) == 12 and frames[0].shape == (112, 112, 3)  # 112 <= GIF_MAX_SIDE: not resized
    ramp = frames[0][:, :56]
    assert np.abs(ramp[..., 0] - ramp[..., 1]).max() <= 8 and np.abs(ramp[..., 1] - ramp[..., 2]).max() <= 8
    assert np.abs(ramp[..., 0] - np.linspace(0, 255, 56).astype(int)).max() <= 12  # levels kept, no dither noise
    contour = frames[0][30:80, 60]
    assert (contour[:, 1] > 200).all() and (contour[:, 0] < 60).all() and (contour[:, 2] < 60).all()
