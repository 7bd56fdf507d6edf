"""The frame-window rule that training, adaptation and the inference engines share."""

import numpy as np
import pytest
import torch

from echoseg.data.windows import frame_window, window_indices
from echoseg.models.video import window_indices as torch_window_indices


def test_window_indices_repeat_the_edge_frames():
    got = window_indices(5, 3, [0, 2, 4])
    np.testing.assert_array_equal(got, [[0, 0, 1], [1, 2, 3], [3, 4, 4]])
    np.testing.assert_array_equal(window_indices(4, 5, [0, 3]), [[0, 0, 0, 1, 2], [1, 2, 3, 3, 3]])


def test_a_one_frame_window_is_its_centre():
    np.testing.assert_array_equal(window_indices(6, 1, np.arange(6)), np.arange(6)[:, None])


@pytest.mark.parametrize("window", [1, 3, 5, 7])
def test_numpy_rule_is_the_torch_rule(window):
    expected = torch_window_indices(9, window, torch.arange(9)).numpy()
    np.testing.assert_array_equal(window_indices(9, window, np.arange(9)), expected)


def test_frame_window_takes_the_frames_not_the_indices():
    frames = np.arange(4)[:, None, None] * np.ones((4, 2, 2), dtype=np.uint8) * 10
    got = frame_window(frames, 3, 3)
    assert got.shape == (3, 2, 2)
    np.testing.assert_array_equal(got[:, 0, 0], [20, 30, 30])
