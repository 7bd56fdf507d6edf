import numpy as np
import pytest

from echoseg.training.config import AugmentConfig, PerturbConfig
from echoseg.training.transforms import Perturb, SpatialAugment, SpatialParams, apply_spatial


def marker_window(k=3, size=33, y=6, x=22):
    """k frames with a bright 3x3 marker and a mask that covers exactly the marker."""
    frames = np.zeros((k, size, size), np.uint8)
    frames[:, y - 1:y + 2, x - 1:x + 2] = 255
    mask = np.zeros((size, size), bool)
    mask[y - 1:y + 2, x - 1:x + 2] = True
    return frames, mask


def centroid(image):
    ys, xs = np.nonzero(image)
    w = image[ys, xs].astype(float)
    return np.array([np.average(ys, weights=w), np.average(xs, weights=w)])


@pytest.mark.parametrize("params, expected", [
    (SpatialParams(hflip=True), (6, 32 - 22)),
    (SpatialParams(vflip=True), (32 - 6, 22)),
    (SpatialParams(transpose=True), (22, 6)),
    (SpatialParams(hflip=True, vflip=True, transpose=True), (32 - 22, 32 - 6)),
])
def test_flips_move_frames_and_mask_together(params, expected):
    frames, mask = marker_window()
    out_frames, out_mask = apply_spatial(frames, mask, params)
    assert out_mask[expected]
    for frame in out_frames:
        assert np.array_equal(frame > 0, out_mask.astype(bool))
        assert frame[expected] == 255


def test_random_transforms_keep_frames_and_mask_aligned_and_binary():
    augment = SpatialAugment(AugmentConfig(rotate_deg=15.0))
    angles = []
    for seed in range(40):
        frames, mask = marker_window()
        rng = np.random.default_rng(seed)
        angles.append(augment.draw(np.random.default_rng(seed), square=True).angle_deg)
        out_frames, out_mask = augment(frames, mask, rng)
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1}
        assert out_mask.sum() > 0
        for frame in out_frames:  # every frame got the same transform
            assert np.array_equal(frame, out_frames[0])
        # The marker lands where the mask lands (bilinear vs nearest: within a pixel).
        assert np.abs(centroid(out_frames[0]) - centroid(out_mask)).max() < 1.0
    assert max(np.abs(angles)) <= 15.0 and min(angles) < -5 and max(angles) > 5


def test_same_rng_same_transform():
    frames, mask = marker_window()
    augment = SpatialAugment(AugmentConfig())
    a = augment(frames, mask, np.random.default_rng([1, 2, 3]))
    b = augment(frames, mask, np.random.default_rng([1, 2, 3]))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_transpose_skipped_for_non_square_frames():
    augment = SpatialAugment(AugmentConfig(transpose=1.0, rotate_deg=0.0))
    frames = np.zeros((3, 32, 48), np.uint8)
    out, mask = augment(frames, np.zeros((32, 48), bool), np.random.default_rng(0))
    assert out.shape == (3, 32, 48) and mask.shape == (32, 48)


def test_disabled_augment_is_identity():
    frames, mask = marker_window()
    out, out_mask = SpatialAugment(AugmentConfig(enabled=False))(frames, mask, np.random.default_rng(0))
    assert np.array_equal(out, frames) and np.array_equal(out_mask, mask)


def test_perturb_views_differ_stay_in_range_and_keep_content():
    rng = np.random.default_rng(0)
    window = np.random.default_rng(1).random((3, 16, 16)).astype(np.float32)
    perturb = Perturb(PerturbConfig())
    student, teacher = perturb(window, rng), perturb(window, rng)
    assert student.dtype == np.float32 and student.min() >= 0 and student.max() <= 1
    assert not np.allclose(student, teacher)
    assert np.corrcoef(student.ravel(), window.ravel())[0, 1] > 0.8
    assert np.array_equal(Perturb(PerturbConfig(enabled=False))(window, rng), window)
