"""Render the previews of the synthetic echo videos in docs/.

docs/synthetic_preview.png: the realistic preset (the default of `echoseg synth` and the demo). Left: ED
and ES frames of three videos, LV truth outlined in green on the right copy. Right: one ED frame of a
224 px video, enlarged, without outline.
docs/synthetic_preview_classic.png: the same for one easy, one medium and one hard video. Run:

    PYTHONPATH=src python docs/make_preview.py [--out docs] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from echoseg.data.synthetic import generate_video
from echoseg.io import atomic_write_bytes

SCALE = 2


def _tile(frame: np.ndarray, mask: np.ndarray | None, label: str) -> np.ndarray:
    big = cv2.resize(frame, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    tile = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    if mask is not None:
        big_mask = cv2.resize(mask.astype(np.uint8), None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(big_mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, contours, -1, (80, 220, 80), 1)
    cv2.putText(tile, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (230, 230, 230), 1, cv2.LINE_AA)
    return tile


PREVIEWS = {"synthetic_preview.png": ["realistic"] * 3, "synthetic_preview_classic.png": ["easy", "medium", "hard"]}


def render(seed: int, presets: list[str], size: int = 112) -> np.ndarray:
    rows = []
    cases = [(seed + i, difficulty) for i, difficulty in enumerate(presets)]
    for case_seed, difficulty in cases:
        v = generate_video(case_seed, size=size, difficulty=difficulty)
        s = v.sample
        tiles = [
            _tile(s.video[s.ed], None, f"{difficulty} ED"),
            _tile(s.video[s.ed], s.masks[s.ed], f"EF {v.truth.ef:.0f}%"),
            _tile(s.video[s.es], None, "ES"),
            _tile(s.video[s.es], s.masks[s.es], "ES truth"),
        ]
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    big_preset = "realistic" if "realistic" in presets else "medium"
    full = generate_video(seed + 10, size=size * 4 // 2, difficulty=big_preset).sample
    big = cv2.cvtColor(cv2.resize(full.video[full.ed], (grid.shape[0], grid.shape[0]),
                                  interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2BGR)
    return np.concatenate([grid, np.zeros((grid.shape[0], 4, 3), np.uint8), big], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder to write the PNG files in")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first video shown")
    args = parser.parse_args()
    for name, presets in PREVIEWS.items():
        ok, png = cv2.imencode(".png", render(args.seed, presets), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        atomic_write_bytes(args.out / name, png.tobytes())
        print(f"wrote {args.out / name} ({len(png) // 1024} KB)")


if __name__ == "__main__":
    main()
