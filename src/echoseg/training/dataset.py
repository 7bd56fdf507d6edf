"""Training windows and two-stream batches over a `FrameCache`.

Labelled windows: k frames centred on each labelled frame (ED and ES; every annotated frame when
`use_all_frame_labels`), edges replicated. Unlabelled windows: every frame of every training video.

Batches are a pure function of the step: `TwoStreamBatches[step]` draws the step's labelled and
unlabelled windows from per-epoch permutations seeded by (seed, stream, epoch) and augments each
window with a generator seeded by (seed, step, stream, slot). So:
- resuming at step s only needs s (no sampler or RNG stream to carry);
- DataLoader workers can build any step in any order;
- under DDP, rank r takes slots [r*b, (r+1)*b) of the global batch, so N processes with batch b
  see exactly the windows (and augmentations) one process with batch N*b sees.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from echoseg.training.cache import CacheEntry, FrameCache
from echoseg.training.config import AppearanceConfig, AugmentConfig, PerturbConfig
from echoseg.training.transforms import AppearanceAugment, Perturb, SpatialAugment

LABELED, UNLABELED = 0, 1  # stream ids, part of every RNG seed


def labeled_frames(entry: CacheEntry, use_all_frame_labels: bool) -> list[int]:
    """Frames whose masks supervise training: all annotated ones, or only ED/ES (the EchoNet setting)."""
    if use_all_frame_labels:
        return list(entry.mask_frames)
    key_frames = sorted({f for f in (entry.ed, entry.es) if f is not None and f in entry.mask_frames})
    # A source without ED/ES indices: its annotated frames are the key frames.
    return key_frames if (entry.ed is not None or entry.es is not None) else list(entry.mask_frames)


def labeled_subset(cache: FrameCache, videos: list[int], fraction: float, seed: int) -> list[int]:
    """The videos whose labels are used when only `fraction` of them count as traced: round(fraction * n)
    of them (at least one), drawn by `seed` from the case ids, so every model trained with the same
    seed on the same cases sees the same traced videos."""
    if fraction >= 1.0 or not videos:
        return list(videos)
    by_id = sorted(videos, key=lambda i: cache.entries[i].case_id)
    n = max(1, round(fraction * len(by_id)))
    chosen = np.random.default_rng([seed, 0x1ABE1]).permutation(len(by_id))[:n]
    return sorted(by_id[j] for j in chosen)


def labeled_windows(cache: FrameCache, videos: list[int], use_all_frame_labels: bool) -> np.ndarray:
    """int64 (n, 2) rows (video index, centre frame) of the labelled windows of `videos`."""
    rows = [(i, f) for i in videos for f in labeled_frames(cache.entries[i], use_all_frame_labels)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def unlabeled_windows(cache: FrameCache, videos: list[int]) -> np.ndarray:
    """int64 (n, 2) rows (video index, centre frame): every frame of every video."""
    rows = [(i, f) for i in videos for f in range(cache.entries[i].n_frames)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


@functools.lru_cache(maxsize=8)
def _epoch_permutation(seed: int, stream: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, stream, epoch, 0x5EED]).permutation(n)


def stream_items(seed: int, stream: int, n: int, positions: np.ndarray) -> np.ndarray:
    """Item numbers at global `positions` of an endless stream of per-epoch permutations of range(n)."""
    out = np.empty(len(positions), dtype=np.int64)
    for j, p in enumerate(positions):
        epoch, offset = divmod(int(p), n)
        out[j] = _epoch_permutation(seed, stream, epoch, n)[offset]
    return out


@dataclass
class StreamSpec:
    windows: np.ndarray  # (n, 2) video index, centre frame
    batch: int  # per process


class TwoStreamBatches(Dataset):
    """Map-style dataset indexed by step; item = one process's batch for that step.

    Returns {"step": int, "labeled": uint8 (BL, k, H, W) (float32 in [0, 1] when `perturb.labeled`),
    "mask": uint8 (BL, 1, H, W)} and, when an
    unlabelled stream is given, "student": float32 (BU, k, H, W) and "teacher": float32 (BU, k, H, W),
    the same spatially augmented window under two independent intensity perturbations.
    """

    def __init__(self, cache: FrameCache, window: int, labeled: StreamSpec, unlabeled: StreamSpec | None,
                 augment: AugmentConfig, perturb: PerturbConfig, seed: int, total_steps: int,
                 rank: int = 0, world_size: int = 1):
        if len(labeled.windows) == 0:
            raise ValueError("no labelled windows: the training cases have no annotated frames")
        if unlabeled is not None and len(unlabeled.windows) == 0:
            raise ValueError("no unlabelled windows: the training videos are empty")
        self.cache = cache
        self.k = window
        self.labeled = labeled
        self.unlabeled = unlabeled
        self.spatial = SpatialAugment(augment)
        self.appearance = AppearanceAugment(augment.appearance if augment.enabled else AppearanceConfig())
        self.perturb = Perturb(perturb)
        self.seed = seed
        self.total_steps = total_steps
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return self.total_steps

    def _slots(self, step: int, batch: int) -> np.ndarray:
        """Global slot numbers of this rank's part of the step's batch."""
        start = (step * self.world_size + self.rank) * batch
        return np.arange(start, start + batch)

    def __getitem__(self, step: int) -> dict[str, torch.Tensor | int]:
        out: dict[str, torch.Tensor | int] = {"step": step}
        slots = self._slots(step, self.labeled.batch)
        items = stream_items(self.seed, LABELED, len(self.labeled.windows), slots)
        frames, masks = [], []
        for slot, item in zip(slots, items, strict=True):
            video, centre = self.labeled.windows[item]
            rng = np.random.default_rng([self.seed, int(step), LABELED, int(slot)])
            x, m = self.spatial(self.cache.window(video, centre, self.k), self.cache.mask(video, centre), rng)
            x = self.appearance(x, rng)
            if self.perturb.config.labeled:
                x = self.perturb(x.astype(np.float32) * np.float32(1 / 255), rng)
            frames.append(x)
            masks.append(m[None])
        out["labeled"] = torch.from_numpy(np.stack(frames))
        out["mask"] = torch.from_numpy(np.stack(masks))
        if self.unlabeled is not None:
            slots = self._slots(step, self.unlabeled.batch)
            items = stream_items(self.seed, UNLABELED, len(self.unlabeled.windows), slots)
            student, teacher = [], []
            for slot, item in zip(slots, items, strict=True):
                video, centre = self.unlabeled.windows[item]
                rng = np.random.default_rng([self.seed, int(step), UNLABELED, int(slot)])
                x, _ = self.spatial(self.cache.window(video, centre, self.k), None, rng)
                x = self.appearance(x, rng).astype(np.float32) * np.float32(1 / 255)
                student.append(self.perturb(x, rng))
                teacher.append(self.perturb(x, rng))
            out["student"] = torch.from_numpy(np.stack(student))
            out["teacher"] = torch.from_numpy(np.stack(teacher))
        return out


def validation_batches(cache: FrameCache, windows: np.ndarray, window: int, batch: int):
    """Yield (uint8 (B, k, H, W), uint8 (B, 1, H, W)) over the validation windows, unaugmented."""
    for start in range(0, len(windows), batch):
        rows = windows[start:start + batch]
        x = np.stack([cache.window(v, f, window) for v, f in rows])
        y = np.stack([cache.mask(v, f)[None] for v, f in rows])
        yield torch.from_numpy(x), torch.from_numpy(y)


@contextlib.contextmanager
def cv2_serial_for_fork() -> Iterator[None]:
    """Fork DataLoader workers while OpenCV runs single-threaded, then restore its threads.

    A child forked from a process whose OpenCV thread pool exists inherits a pool without threads
    and deadlocks in its first parallel call (even in cv2.setNumThreads). Forking while the parent
    is serial gives children that never touch a pool; the parent gets its threads back afterwards.
    """
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)
