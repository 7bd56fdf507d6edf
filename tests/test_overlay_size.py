"""issue 26, item 23: the overlay video is written at a readable size (EchoNet's 112x112 frames at
448x448), with the contour drawn at that size, not enlarged with the frame after drawing."""

from __future__ import annotations

import cv2
import numpy as np

from echoseg.inference.outputs import OVERLAY_MIN_SIDE, overlay_frames, write_overlay


def _disc_video(size=112, radius=30.0, frames=3):
    yy, xx = np.mgrid[0:size, 0:size]
    masks = np.repeat((((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= radius ** 2)[None], frames, axis=0)
    video = np.full((frames, size, size), 90, np.uint8)
    video[masks] = 20
    return video, masks


def _green(bgr):
    return (bgr[..., 1] > 150) & (bgr[..., 0] < 100) & (bgr[..., 2] < 100)


def test_an_echonet_sized_video_gets_a_448_pixel_overlay_with_a_thin_smooth_contour():
    video, masks = _disc_video()
    bgr = overlay_frames(video, masks, ed=[0], es=[2])
    assert bgr.shape == (3, OVERLAY_MIN_SIDE, OVERLAY_MIN_SIDE, 3) and OVERLAY_MIN_SIDE == 448
    green = _green(bgr[1])
    ys, xs = np.nonzero(green)
    radii = np.hypot(ys - 224 + 0.5, xs - 224 + 0.5)
    assert abs(np.median(radii) - 4 * 30) < 3  # the disc's outline, at the enlarged size
    # Drawn at 448 px, the line is a few pixels wide; drawn at 112 and enlarged it would be 4x as wide.
    row = green[224]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
    assert len(runs) == 2 and runs.max() <= 6


def test_a_large_video_keeps_its_size_and_a_non_square_one_keeps_its_shape():
    video, masks = _disc_video(size=480)
    assert overlay_frames(video, masks, [], []).shape[1:3] == (480, 480)
    wide = np.zeros((2, 100, 150), np.uint8)
    assert overlay_frames(wide, wide.astype(bool), [], []).shape[1:3] == (448, 672)


def test_the_written_overlay_video_has_the_readable_size(tmp_path):
    video, masks = _disc_video(frames=4)
    path = write_overlay(tmp_path / "overlay.mp4", overlay_frames(video, masks, [0], [2]), 25.0)
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape[:2] == (448, 448)
