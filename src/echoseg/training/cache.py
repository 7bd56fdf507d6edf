"""Decoded-frame cache: every video decoded once, resized to the model input, memory-mapped.

Layout of a cache folder (one per source + input size + case list, named by a hash of those):
    frames.u8    uint8 (N_frames, H, W): all videos back to back
    masks.u8     uint8 (N_masks, H, W): every annotated frame's mask (0/1), back to back
    index.json   per case: case_id, patient_id, split, frame offset and count, ed, es, the annotated
                 frame numbers and their mask offset; plus the cases skipped and why.
The folder is built under a temporary name and renamed when complete, so a killed build is never
mistaken for a cache. DataLoader workers open the memmaps themselves (a memmap must not be pickled:
pickling copies the whole array).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from echoseg.data.resize import resize_mask, resize_video
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.data.screening import sample_left_out_reason
from echoseg.data.windows import window_indices
from echoseg.errors import DataError, EchosegError

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: cases whose labels fail the screening are skipped


class SampleSource(Protocol):
    """What the cache reads from: a `Reader` or an `InMemorySource`."""

    def records(self) -> list[CaseRecord]: ...

    def load(self, case_id: str) -> EchoSample: ...


class InMemorySource:
    """A list of `EchoSample`s behaving like a reader (tests, notebooks, generated data)."""

    def __init__(self, samples: Iterable[EchoSample], name: str = "in-memory"):
        self.samples = {s.case_id: s for s in samples}
        self.name = name

    def records(self) -> list[CaseRecord]:
        return [CaseRecord(case_id=s.case_id, patient_id=s.patient_id, split=s.split, view=s.view, fps=s.fps,
                           n_frames=s.n_frames, ef=s.ef, edv=s.edv, esv=s.esv) for s in self.samples.values()]

    def load(self, case_id: str) -> EchoSample:
        return self.samples[case_id]

    def fingerprint(self) -> str:
        """Changes when any video or mask changes (so a stale cache is never reused)."""
        crc = 0
        for s in self.samples.values():
            crc = zlib.crc32(s.case_id.encode(), crc)
            crc = zlib.crc32(np.ascontiguousarray(s.video).tobytes(), crc)
            for f in sorted(s.masks):
                crc = zlib.crc32(np.packbits(s.masks[f]).tobytes() + str(f).encode(), crc)
        return f"{self.name}:{crc:08x}"


class ChainedSource:
    """Several sources read as one (e.g. a dataset and a folder of untraced videos); case ids must be unique."""

    def __init__(self, sources: Iterable[SampleSource]):
        self.sources = list(sources)
        self._owner: dict[str, SampleSource] = {}
        for source in self.sources:
            for record in source.records():
                if record.case_id in self._owner:
                    raise EchosegError(f"case id {record.case_id!r} is in two of the training sources")
                self._owner[record.case_id] = source

    def records(self) -> list[CaseRecord]:
        return [r for s in self.sources for r in s.records()]

    def load(self, case_id: str) -> EchoSample:
        return self._owner[case_id].load(case_id)

    @property
    def problems(self) -> list:
        """The sources' problems (read by the case screening while the cache is built)."""
        return [p for s in self.sources for p in getattr(s, "problems", [])]


@dataclass
class CacheEntry:
    case_id: str
    patient_id: str
    split: str
    frame_offset: int
    n_frames: int
    ed: int | None
    es: int | None
    mask_frames: list[int] = field(default_factory=list)
    mask_offset: int = 0


class FrameCache:
    """Read access to a built cache: `video(i)`, `window(i, centre, k)`, `mask(i, frame)`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        index_path = self.root / "index.json"
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError) as exc:
            raise EchosegError(f"{index_path}: unreadable frame-cache index ({exc}); delete the folder to rebuild") from None
        self.input_size: tuple[int, int] = tuple(index["input_size"])
        self.entries = [CacheEntry(**e) for e in index["entries"]]
        self.skipped: list[dict[str, str]] = index.get("skipped", [])
        self.n_frames_total = int(index["n_frames_total"])
        self.n_masks_total = int(index["n_masks_total"])
        self._frames: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._mask_slot = [{f: e.mask_offset + j for j, f in enumerate(e.mask_frames)} for e in self.entries]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_frames"] = None
        state["_masks"] = None
        return state

    @property
    def frames(self) -> np.ndarray:
        if self._frames is None:
            h, w = self.input_size
            self._frames = _open_memmap(self.root / "frames.u8", (self.n_frames_total, h, w))
        return self._frames

    @property
    def masks(self) -> np.ndarray:
        if self._masks is None:
            h, w = self.input_size
            self._masks = _open_memmap(self.root / "masks.u8", (self.n_masks_total, h, w))
        return self._masks

    def __len__(self) -> int:
        return len(self.entries)

    def indices(self, split: str) -> list[int]:
        return [i for i, e in enumerate(self.entries) if e.split == split]

    def video(self, i: int) -> np.ndarray:
        e = self.entries[i]
        return self.frames[e.frame_offset:e.frame_offset + e.n_frames]

    def window(self, i: int, centre: int, k: int) -> np.ndarray:
        """uint8 (k, H, W): frames centre - k//2 .. centre + k//2, edges replicated."""
        e = self.entries[i]
        return self.frames[e.frame_offset + window_indices(e.n_frames, k, [centre])[0]]

    def mask(self, i: int, frame: int) -> np.ndarray:
        """uint8 (H, W) 0/1 mask of an annotated frame."""
        return self.masks[self._mask_slot[i][frame]]


def _open_memmap(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    if shape[0] == 0:
        return np.zeros(shape, np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=shape)


def cache_key(source_id: str, input_size: tuple[int, int], cases: list[tuple[str, str]]) -> str:
    text = json.dumps([CACHE_VERSION, source_id, list(input_size), cases])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_frame_cache(source: SampleSource, cases: list[tuple[str, str]], input_size: tuple[int, int],
                      cache_dir: str | Path, source_id: str,
                      progress: Callable[[int, int], None] | None = None) -> FrameCache:
    """Decode `cases` [(case_id, split), ...] from `source` into `cache_dir/<key>` (reused if present).

    Cases whose loading raises `DataError`, or whose labels fail the screening
    (`echoseg.data.screening.sample_left_out_reason`), are skipped and listed in the index with why
    (a bad file must not stop a 10,000-video job); the trainer reports them.
    """
    cache_dir = Path(cache_dir)
    final = cache_dir / f"frames-{input_size[0]}x{input_size[1]}-{cache_key(source_id, input_size, cases)}"
    if (final / "index.json").is_file():
        return FrameCache(final)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".building-"))
    try:
        entries: list[CacheEntry] = []
        skipped: list[dict[str, str]] = []
        n_frames = n_masks = 0
        with open(tmp / "frames.u8", "wb") as frames_file, open(tmp / "masks.u8", "wb") as masks_file:
            for done, (case_id, split) in enumerate(cases):
                try:
                    sample = source.load(case_id)
                except DataError as exc:
                    skipped.append({"case_id": case_id, "problem": str(exc)})
                    continue
                doubt = sample_left_out_reason(source, sample) if split != "unlabeled" else None  # masks unused
                if doubt is not None:
                    skipped.append({"case_id": case_id, "problem": doubt})
                    continue
                video = resize_video(sample.video, input_size)
                frames_file.write(np.ascontiguousarray(video).tobytes())
                mask_frames = sample.annotated_frames
                for f in mask_frames:
                    masks_file.write(resize_mask(sample.masks[f], input_size).astype(np.uint8).tobytes())
                entries.append(CacheEntry(case_id=case_id, patient_id=sample.patient_id, split=split,
                                          frame_offset=n_frames, n_frames=int(video.shape[0]), ed=sample.ed,
                                          es=sample.es, mask_frames=mask_frames, mask_offset=n_masks))
                n_frames += int(video.shape[0])
                n_masks += len(mask_frames)
                if progress is not None:
                    progress(done + 1, len(cases))
        index = {"version": CACHE_VERSION, "source": source_id, "input_size": list(input_size),
                 "n_frames_total": n_frames, "n_masks_total": n_masks,
                 "entries": [asdict(e) for e in entries], "skipped": skipped}
        (tmp / "index.json").write_text(json.dumps(index))
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process (another rank) finished the same cache first: use theirs.
            if not (final / "index.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FrameCache(final)
