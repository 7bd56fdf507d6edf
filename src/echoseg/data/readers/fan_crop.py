"""Any dataset reader with every sample cut to its ultrasound fan, as `echoseg predict` cuts its inputs.

For users who train on their own scanner exports (EchoNet layout with AVIs exported from a scanner,
say): the video is blanked outside the detected sector and cut to a square window around it at the
original resolution, masks and labels to the same window, spacing unchanged. Samples whose sector
fills the frame (EchoNet-Dynamic, CAMUS) are returned unchanged. Open it with
`open_dataset(root, format, crop_to_fan=True)` or, in training, `--set data.crop_to_fan=true`.
"""

from __future__ import annotations

from echoseg.data.readers.base import Reader
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.data.sector import FRAMINGS, crop_sample


class FanCroppedReader(Reader):
    def __init__(self, inner: Reader, framing: str = "depth"):
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
        super().__init__(inner.root)
        self.inner = inner
        self.framing = framing
        self.format_name = inner.format_name
        self.problems = inner.problems

    def records(self) -> list[CaseRecord]:
        return self.inner.records()

    def load(self, case_id: str) -> EchoSample:
        """The inner reader's sample cut to its fan; FanNotFound (a DataError naming the case) when it has none."""
        return crop_sample(self.inner.load(case_id), self.framing, path=f"{self.root}/{case_id}")

    def __getattr__(self, name: str):  # reader-specific extras (e.g. SyntheticReader.truth)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
