"""Untraced videos as a training source (`data.unlabeled`): consistency windows only, no masks."""

from __future__ import annotations

import hashlib
from pathlib import Path

from echoseg.data.inputs import discover_inputs, read_video
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import DataError


class UnlabeledVideos:
    """Untraced videos for training (`data.unlabeled`): every file `predict` reads under the given
    folders or files, as `EchoSample`s without masks (a training `SampleSource`). Case ids are
    "unlabeled/<name>"; an unreadable file is skipped by the frame cache with its problem listed."""

    def __init__(self, inputs: list[str | Path]):
        self.items = discover_inputs(list(inputs))

    def records(self) -> list[CaseRecord]:
        return [CaseRecord(case_id=f"unlabeled/{item.name}", patient_id=f"unlabeled/{item.name}",
                           split="unlabeled") for item in self.items]

    def load(self, case_id: str) -> EchoSample:
        item = next(i for i in self.items if f"unlabeled/{i.name}" == case_id)
        video = read_video(item.path, item.fps_hint)
        return EchoSample(video=video.frames, masks={}, case_id=case_id, patient_id=case_id,
                          spacing_mm=video.spacing_mm, fps=video.fps, split="unlabeled")

    def fingerprint(self) -> str:
        """Changes when a file is added, removed or rewritten (the frame cache key includes it)."""
        parts = [(str(i.path.resolve()), i.path.stat().st_size, i.path.stat().st_mtime_ns) for i in self.items]
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
