"""In-memory data for the evaluation tests: a Reader over EchoSamples and segmenters whose "model" reads the video.

The videos draw the LV cavity as a bright rectangle (200) on a dark background (20), so a
"perfect" predictor recovers the mask by thresholding the frame and a shifted one is off by a
known number of pixels.
"""

import numpy as np

from echoseg.data.readers.base import Reader
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import DataError
from echoseg.inference.segmenter import Segmenter

H, W = 48, 64


def rectangle(top, left, height, width, shape=(H, W)):
    mask = np.zeros(shape, bool)
    mask[top : top + height, left : left + width] = True
    return mask


def make_sample(case_id, *, patient_id=None, frames=6, all_masks=True, spacing=None, view="A4C", ef=None,
                widths=(20, 18, 15, 12, 14, 17), split="test"):
    """Rectangles 24 px tall and `widths[t]` px wide; ED = frame 0 (widest), ES = frame 3 (narrowest)."""
    masks_list = [rectangle(12, 20, 24, widths[t % len(widths)]) for t in range(frames)]
    video = np.stack([np.where(m, 200, 20) for m in masks_list]).astype(np.uint8)
    masks = {t: m for t, m in enumerate(masks_list) if all_masks or t in (0, 3)}
    return EchoSample(video=video, masks=masks, case_id=case_id, patient_id=patient_id or case_id, ed=0, es=3,
                      spacing_mm=spacing, fps=50.0, view=view, split=split, ef=ef)


class FakeReader(Reader):
    format_name = "fake"

    def __init__(self, samples, broken=()):
        super().__init__("/in-memory")
        self.samples = {s.case_id: s for s in samples}
        self.broken = set(broken)

    def records(self):
        ids = list(self.samples) + sorted(self.broken)
        return [CaseRecord(case_id=c, patient_id=self.samples[c].patient_id if c in self.samples else c,
                           split="test") for c in ids]

    def load(self, case_id):
        if case_id in self.broken:
            raise DataError(f"/in-memory/{case_id}.avi", "cannot decode frame 3")
        return self.samples[case_id]


def perfect_predictor(video):
    """Probabilities from the frame itself: the bright rectangle is the LV."""
    return (video.astype(np.float32) - 20.0) / 180.0


def shifted_predictor(shift):
    def predict(video):
        return np.roll(perfect_predictor(video), shift, axis=2)

    return predict


class FakeSegmenter(Segmenter):
    """A Segmenter whose model is `predictor(video at input size) -> probabilities`; the resizing and
    mask rule are the real ones."""

    def __init__(self, predictor, input_size=(H, W), **kwargs):
        super().__init__(None, input_size, **kwargs)
        self.predictor = predictor

    def model_probs(self, small):
        return self.predictor(small)
