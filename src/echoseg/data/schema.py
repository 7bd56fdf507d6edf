"""The one sample schema every source returns.

Readers (EchoNet-Dynamic, CAMUS, synthetic, plain video files) hold no training logic and return
`EchoSample`; transforms hold no file logic and consume it. Listing a dataset returns light
`CaseRecord`s and must not decode any video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass
class CaseRecord:
    """What a reader knows about a case without decoding it (for listing, splits, folds, summaries)."""

    case_id: str
    patient_id: str
    split: str | None = None  # "train" | "val" | "test" | None (normalised lower case)
    view: str | None = None  # e.g. "A4C", "2CH", "4CH"
    fps: float | None = None
    n_frames: int | None = None
    ef: float | None = None  # reference EF in percent, from the dataset's own table
    edv: float | None = None  # reference volumes (ml) when the dataset gives them
    esv: float | None = None


@dataclass
class EchoSample:
    """One echo video with its annotations.

    video:      uint8 array (T, H, W), grayscale, frames in time order.
    masks:      {frame_index: bool array (H, W)} LV cavity (endocardium) for the annotated frames;
                every frame where the source has it (synthetic, CAMUS half-sequence gt).
    ed, es:     end-diastole / end-systole frame indices (into `video`), None if unknown.
    spacing_mm: (dy, dx) pixel size in millimetres, or None when unknown (distances are then in px).
    labels:     optional {frame_index: uint8 (H, W)} multi-class maps where the source has them
                (CAMUS: 0 background, 1 LV cavity, 2 myocardium, 3 left atrium).
    ef, edv, esv: reference values from the dataset (percent, ml), None when absent.
    """

    video: np.ndarray
    masks: dict[int, np.ndarray]
    case_id: str
    patient_id: str
    ed: int | None = None
    es: int | None = None
    spacing_mm: tuple[float, float] | None = None
    fps: float | None = None
    view: str | None = None
    split: str | None = None
    ef: float | None = None
    edv: float | None = None
    esv: float | None = None
    labels: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.video.dtype != np.uint8 or self.video.ndim != 3:
            raise ValueError(
                f"{self.case_id}: video must be uint8 (T, H, W), got {self.video.dtype} {self.video.shape}"
            )
        t, h, w = self.video.shape
        for index, mask in self.masks.items():
            if not 0 <= index < t:
                raise ValueError(f"{self.case_id}: mask for frame {index} outside 0..{t - 1}")
            if mask.shape != (h, w) or mask.dtype != np.bool_:
                raise ValueError(
                    f"{self.case_id}: mask {index} must be bool {(h, w)}, got {mask.dtype} {mask.shape}"
                )

    @classmethod
    def from_record(cls, record: CaseRecord, *, video: np.ndarray, masks: dict[int, np.ndarray], **fields) -> EchoSample:
        """A sample carrying the record's listing fields (ids, split, view, fps, reference EF/EDV/ESV).

        video uint8 (T, H, W) and masks {frame: bool (H, W)} as in the class; `fields` set the rest
        (ed, es, spacing_mm, labels) and override record fields where the decoded file knows better.
        """
        listed = {name: getattr(record, name) for name in _RECORD_FIELDS}
        return cls(video=video, masks=masks, **{**listed, **fields})

    @property
    def n_frames(self) -> int:
        return int(self.video.shape[0])

    @property
    def annotated_frames(self) -> list[int]:
        return sorted(self.masks)


# CaseRecord fields an EchoSample carries unchanged (n_frames is the decoded video's own length).
_RECORD_FIELDS = ("case_id", "patient_id", "split", "view", "fps", "ef", "edv", "esv")
