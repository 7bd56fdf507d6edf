"""Preview strip of one case: frames side by side with the ground-truth LV outline, ED and ES marked.

For looking at data (does it look like an echo, do the masks sit on the LV?), not for figures.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from echoseg.data.schema import EchoSample
from echoseg.io import atomic_write_bytes

OUTLINE_BGR = (0, 220, 0)
ED_BGR = (60, 60, 255)
ES_BGR = (255, 160, 40)
TEXT_BGR = (235, 235, 235)
MIN_TILE_HEIGHT = 224  # small EchoNet frames (112 px) are upscaled so outlines and labels stay legible
GAP = 4
HEADER = 22


def preview_frame_indices(sample: EchoSample, n_frames: int) -> list[int]:
    """Up to `n_frames` frame indices in time order: ED and ES always, the rest evenly spaced."""
    total = sample.n_frames
    if n_frames >= total:
        return list(range(total))
    chosen = {index for index in (sample.ed, sample.es) if index is not None}
    extra = n_frames - len(chosen)
    if extra > 0:
        pool = [index for index in range(total) if index not in chosen]
        # len(pool) >= extra here, so the rounded positions are distinct
        chosen.update(pool[i] for i in np.linspace(0, len(pool) - 1, num=extra).round().astype(int))
    return sorted(chosen)


def _tile(sample: EchoSample, index: int, scale: int) -> np.ndarray:
    """One frame as BGR uint8 (scale*H, scale*W, 3) with its mask outline and labels."""
    frame = sample.video[index]
    height, width = frame.shape
    size = (width * scale, height * scale)
    tile = cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2BGR)
    mask = sample.masks.get(index)
    if mask is not None:
        big = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, contours, -1, OUTLINE_BGR, thickness=max(1, scale // 2))
    cv2.putText(tile, f"t={index}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT_BGR, 1, cv2.LINE_AA)
    for label, colour, marked in (("ED", ED_BGR, sample.ed), ("ES", ES_BGR, sample.es)):
        if marked == index:
            cv2.putText(tile, label, (4, size[1] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 2, cv2.LINE_AA)
            cv2.rectangle(tile, (0, 0), (size[0] - 1, size[1] - 1), colour, 2)
    return tile


def render_preview(sample: EchoSample, n_frames: int = 8) -> np.ndarray:
    """BGR uint8 image: a header line (case, split, EF, spacing) over a strip of `n_frames` tiles."""
    indices = preview_frame_indices(sample, n_frames)
    height = sample.video.shape[1]
    scale = max(1, -(-MIN_TILE_HEIGHT // height))
    tiles = [_tile(sample, index, scale) for index in indices]
    gap = np.zeros((tiles[0].shape[0], GAP, 3), np.uint8)
    strip = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    header = np.zeros((HEADER, strip.shape[1], 3), np.uint8)
    ef = f"EF {sample.ef:.1f}%" if sample.ef is not None else "EF -"
    spacing = f"{sample.spacing_mm[0]:.3g}x{sample.spacing_mm[1]:.3g} mm" if sample.spacing_mm else "spacing unknown"
    text = f"{sample.case_id}  {sample.split or '-'}  {sample.n_frames} frames  {ef}  {spacing}  (green: LV mask)"
    cv2.putText(header, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT_BGR, 1, cv2.LINE_AA)
    return np.concatenate([header, strip], axis=0)


def write_preview(sample: EchoSample, path: str | Path, n_frames: int = 8) -> Path:
    """Render the preview and write it as PNG, atomically. Returns the path."""
    path = Path(path)
    ok, encoded = cv2.imencode(".png", render_preview(sample, n_frames))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {sample.case_id}")
    atomic_write_bytes(path, encoded.tobytes())
    return path
