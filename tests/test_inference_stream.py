"""Streaming segmentation gives the offline result, frame for frame, with window//2 frames of latency."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.data.resize import resize_probs, resize_video
from echoseg.geometry.masks import MaskRule
from echoseg.inference.segmenter import Segmenter
from inference_support import (
    TinyDarkNet,
    beating_video,
    one_torch_thread,  # noqa: F401 (fixture, used through pytestmark)
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("window", [1, 3, 5])
def test_streaming_equals_offline(window):
    from echoseg.models.video import predict_video_probs

    model = TinyDarkNet(window=window).eval()
    video, _, _, _ = beating_video(frames=9, size=(32, 48), period=6, phase=2)
    offline = predict_video_probs(model, video, batch_size=4)
    stream = Segmenter(model, video.shape[1:], mask_rule=MaskRule(clean=False)).stream()
    outs = []
    for t, frame in enumerate(video):
        out = stream.push(frame)
        if t < window // 2:
            assert out is None  # waiting for the successors of frame 0
        else:
            assert out is not None and out.index == t - window // 2
            outs.append(out)
    outs += stream.flush()
    assert [o.index for o in outs] == list(range(len(video)))
    probs = np.stack([o.probs for o in outs])
    np.testing.assert_allclose(probs, offline, atol=1e-5)
    np.testing.assert_array_equal(np.stack([o.mask for o in outs]), offline >= 0.5)
    # The segmenter is ready for the next video after flush.
    assert stream.push(video[0]) is None or window == 1


def test_streaming_resizes_to_the_model_input_and_back():
    from echoseg.models.video import predict_video_probs

    model = TinyDarkNet(window=3).eval()
    video, _, _, _ = beating_video(frames=5, size=(40, 56), period=4, phase=1)
    stream = Segmenter(model, (32, 48)).stream()
    outs = [o for o in map(stream.push, video) if o is not None] + stream.flush()
    offline = resize_probs(predict_video_probs(model, resize_video(video, (32, 48))), (40, 56))
    np.testing.assert_allclose(np.stack([o.probs for o in outs]), offline, atol=1e-5)
    segmenter = Segmenter(model, (32, 48))
    np.testing.assert_array_equal(np.stack([o.mask for o in outs]), segmenter.segment(video))  # predict's masks
    with pytest.raises(ValueError, match="frame size changed"):
        stream.push(video[0])
        stream.push(video[0][:, :50])
