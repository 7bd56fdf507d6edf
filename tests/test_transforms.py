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


def test_zoom_and_shift_move_frames_and_mask_together():
    augment = SpatialAugment(AugmentConfig(rotate_deg=0.0, hflip=0, vflip=0, transpose=0, zoom=0.3, shift=0.2))
    moved = []
    for seed in range(20):
        frames, mask = marker_window(y=16, x=20)
        params = augment.draw(np.random.default_rng(seed), square=True, size=(33, 33))
        assert 0.7 <= params.scale <= 1.3 and max(abs(v) for v in params.shift) <= 0.2 * 33
        out_frames, out_mask = apply_spatial(frames, mask, params)
        assert np.abs(centroid(out_frames[0]) - centroid(out_mask)).max() < 1.0
        moved.append(np.abs(centroid(out_mask) - (16, 20)).max())
    assert max(moved) > 3



@pytest.mark.parametrize("k", [3, 5, 7])
def test_every_frame_of_a_window_is_warped_as_if_alone(k):
    # OpenCV warps images of more than 4 uint8 channels by another path whose bilinear weights are coarser
    # (up to 6 grey levels off on noise): a k = 5 window must not be interpolated worse than a k = 3 one.
    frames = np.random.default_rng(k).integers(0, 256, (k, 40, 40), dtype=np.uint8)
    params = SpatialParams(angle_deg=10.0, scale=1.1, shift=(1.5, -2.0))
    together, _ = apply_spatial(frames, None, params)
    alone = np.concatenate([apply_spatial(frame[None], None, params)[0] for frame in frames])
    np.testing.assert_array_equal(together, alone)

def test_zoom_and_shift_off_leave_the_random_stream_as_before():
    # Configs without zoom/shift draw exactly the values they drew before these options existed.
    rng, reference = np.random.default_rng(7), np.random.default_rng(7)
    SpatialAugment(AugmentConfig()).draw(rng, square=True, size=(32, 32))
    reference.random(4)
    assert rng.random() == reference.random()


def echo_window(k=3, size=48, seed=0):
    """A fan-like window: black outside a disc, speckle-like grey inside."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    fan = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 < (0.45 * size) ** 2
    return (np.clip(rng.gamma(3.0, 30.0, (k, size, size)), 0, 255) * fan).astype(np.uint8)


def test_appearance_off_is_identity_and_draws_nothing():
    from echoseg.training.config import AppearanceConfig
    from echoseg.training.transforms import AppearanceAugment

    window = echo_window()
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    assert AppearanceAugment(AppearanceConfig(enabled=False))(window, rng) is window
    assert rng.random() == reference.random()


def test_appearance_changes_intensity_not_geometry():
    from echoseg.training.config import AppearanceConfig
    from echoseg.training.transforms import AppearanceAugment

    window = echo_window()
    gain_only = AppearanceConfig(enabled=True, prob=1.0, gain=0.5, contrast=0, gamma=0, blur_prob=0, speckle=0,
                                 dropout_prob=0)
    ratios = []
    for seed in range(10):
        out = AppearanceAugment(gain_only)(window, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape == window.shape
        assert np.array_equal(out > 0, window > 0) or (out > 0).sum() <= (window > 0).sum()  # black stays black
        ratios.append(out[window > 0].mean() / window[window > 0].mean())
    assert min(ratios) < 0.85 and max(ratios) > 1.1
    everything = AppearanceConfig(enabled=True, prob=1.0, blur_prob=1.0, dropout_prob=1.0)
    a = AppearanceAugment(everything)(window, np.random.default_rng(1))
    b = AppearanceAugment(everything)(window, np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.array_equal(a, window)
    # Speckle noise differs between the frames of a window; the other changes are shared.
    assert not np.array_equal(a[0].astype(int) - window[0], a[1].astype(int) - window[1])


def test_presets_turn_appearance_augmentation_on():
    from echoseg.training.config import TrainConfig, resolve_config

    assert not TrainConfig().augment.appearance.enabled  # the dataclass default follows the paper
    for preset in ("cpu", "paper"):
        augment = resolve_config(preset).augment
        assert augment.appearance.enabled and augment.zoom > 0 and augment.shift > 0
