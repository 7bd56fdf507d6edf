"""Untraced videos as a training source (`data.unlabeled`): consistency windows only, no masks."""

from __future__ import annotations

import hashlib
from pathlib import Path

from echoseg.data.inputs import discover_inputs, read_video
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.data.sector import FanNotFound, crop_sample
from echoseg.errors import DataError


class UnlabeledVideos:
    """Untraced videos for training (`data.unlabeled`): every file `predict` reads under the given
    folders or files, as `EchoSample`s without masks (a training `SampleSource`). Case ids are
    "unlabeled/<name>"; an unreadable file is skipped by the frame cache with its problem listed.

    Each video is cut as `echoseg predict` cuts it (`crop_to_fan`, on by default like predict's crop):
    a scanner export to a square window around its fan at its own resolution, outside blanked;
    frames already cut to their fan (EchoNet-Dynamic's) and frames without a fan stay whole, as predict
    resizes them whole. Adapting on the uncut canvas would teach the model a view it never predicts on.
    """

    def __init__(self, inputs: list[str | Path], crop_to_fan: bool = True):
        self.items = discover_inputs(list(inputs))
        self.crop_to_fan = crop_to_fan

    def records(self) -> list[CaseRecord]:
        return [CaseRecord(case_id=f"unlabeled/{item.name}", patient_id=f"unlabeled/{item.name}",
                           split="unlabeled") for item in self.items]

    def load(self, case_id: str) -> EchoSample:
        item = next(i for i in self.items if f"unlabeled/{i.name}" == case_id)
        video = read_video(item.path, item.fps_hint)
        sample = EchoSample(video=video.frames, masks={}, case_id=case_id, patient_id=case_id,
                            spacing_mm=video.spacing_mm, fps=video.fps, split="unlabeled")
        if not self.crop_to_fan:
            return sample
        try:
            return crop_sample(sample, path=str(item.path), region=video.region)
        except FanNotFound:
            return sample

    def fingerprint(self) -> str:
        """Changes when a file is added, removed or rewritten (the frame cache key includes it)."""
        parts = [(str(i.path.resolve()), i.path.stat().st_size, i.path.stat().st_mtime_ns) for i in self.items]
        parts.append(("crop_to_fan", self.crop_to_fan))
        return "unlabeled:" + hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def unlabeled_videos(inputs: list[str | Path]) -> UnlabeledVideos | None:
    """The `data.unlabeled` source for `echoseg.training.train`, or None when `inputs` is empty."""
    if not inputs:
        return None
    source = UnlabeledVideos(inputs)
    if not source.items:
        raise DataError(Path(str(inputs[0])), "data.unlabeled: no video files found in "
                        f"{', '.join(str(p) for p in inputs)}")
    return source
