"""Scanner exports: fan detection accuracy and speed, DICOM decode speed, and Dice through predict with
and without the fan crop. Results go to benchmarks/RESULTS.md by hand.

    python -m benchmarks.bench_sector detect --videos 100            # IoU with the true fan, s/video
    python -m benchmarks.bench_sector decode                          # ms/frame per transfer syntax
    python -m benchmarks.bench_sector dice --checkpoint runs/demo --videos 100   # Dice in original pixels

`detect` renders exports of varied layout (canvas 640x480 .. 1024x768, fan 60-85% of the height,
anywhere left to right, three image difficulties), writes each as an MJPG AVI (pixels only) and as a
JPEG-baseline DICOM with its ultrasound region, reads them back as predict does, and detects the fan.
`dice` segments the same kind of exports four ways: the clean square fan the generator made (what an
EchoNet-trained model expects, written as an EchoNet-style MJPG AVI like the training videos), and the
export's AVI through `predict` cropped to the detected fan (the default), cropped with `--framing
whole`, and whole frame squashed to the model (`--no-crop`). Dice against the truth on every frame in
the canvas's pixels, and (`*_gen_grid`) the same masks taken back to the generator's grid, where the
clean fan's Dice is measured; mean per video, paired bootstrap 95% CIs of the differences.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def exports(n: int, seed: int, frames: int, size: int):
    from echoseg.data.synthetic import generate_video
    from echoseg.data.synthetic.export import render_export

    for i in range(n):
        video = generate_video(seed * 10_000 + i, frames=frames, size=size,
                               difficulty=("easy", "medium", "hard")[i % 3], case_id=f"export{i:03d}")
        yield render_export(video, seed * 10_000 + i)


def bootstrap_mean_ci(values: np.ndarray, n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run_detect(args) -> dict:
    from echoseg.data.inputs import read_video
    from echoseg.data.sector import detect_fan, iou
    from echoseg.data.synthetic.export_files import write_export_avi, write_export_dicom

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for export in exports(args.videos, args.seed, args.frames, args.size):
            truth = export.fan.mask()
            row = {"case": export.case_id, "canvas": list(export.gray.shape[1:])}
            for kind in ("avi", "dicom"):
                path = Path(tmp) / f"{export.case_id}.{kind}"
                if kind == "avi":
                    write_export_avi(path, export)
                else:
                    write_export_dicom(path.with_suffix(".dcm"), export, "jpeg-baseline")
                    path = path.with_suffix(".dcm")
                video = read_video(path)
                start = time.perf_counter()
                try:
                    fan = detect_fan(video.frames, video.region, path=str(path))
                    row[f"{kind}_iou"] = iou(fan.mask(), truth)
                except Exception as exc:  # a miss counts as IoU 0 and is listed
                    row[f"{kind}_iou"], row[f"{kind}_error"] = 0.0, str(exc)
                row[f"{kind}_seconds"] = time.perf_counter() - start
                path.unlink()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    summary = {}
    for kind in ("avi", "dicom"):
        ious = np.array([r[f"{kind}_iou"] for r in rows])
        seconds = np.array([r[f"{kind}_seconds"] for r in rows])
        summary[kind] = {"videos": len(rows), "iou_mean": float(ious.mean()), "iou_min": float(ious.min()),
                         "iou_p5": float(np.percentile(ious, 5)), "below_0.95": int((ious < 0.95).sum()),
                         "seconds_mean": float(seconds.mean()), "seconds_max": float(seconds.max())}
    return {"detect": summary, "frames": args.frames, "generator_size": args.size}


def run_decode(args) -> dict:
    from pydicom.pixels import iter_pixels
    from pydicom.uid import UID

    from echoseg.data import files
    from echoseg.data.synthetic import generate_video
    from echoseg.data.synthetic.export import render_export
    from echoseg.data.synthetic.export_files import SYNTAXES, write_export_dicom

    export = render_export(generate_video(args.seed, frames=args.frames, size=args.size), args.seed, canvas=(600, 800))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for syntax in SYNTAXES:
            path = write_export_dicom(Path(tmp) / f"{syntax}.dcm", export, syntax)
            files.read_dicom(path)  # warm up imports and plugin discovery
            start = time.perf_counter()
            for _ in range(args.repeats):
                decoded = files.read_dicom(path)
            per_frame = (time.perf_counter() - start) / args.repeats / decoded.frames.shape[0] * 1000
            entry = {"transfer_syntax": decoded.transfer_syntax, "ms_per_frame": per_frame,
                     "file_kib": path.stat().st_size // 1024, "plugins": {}}
            import pydicom

            uid = UID(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
            if uid.is_compressed:
                from pydicom.pixels.decoders.base import get_decoder

                for plugin in get_decoder(uid).available_plugins:
                    start = time.perf_counter()
                    for _ in range(args.repeats):
                        n = sum(1 for _ in iter_pixels(path, decoding_plugin=plugin))
                    entry["plugins"][plugin] = (time.perf_counter() - start) / args.repeats / n * 1000
            out[syntax] = entry
            print(syntax, json.dumps(entry), file=sys.stderr)
    return {"decode": out, "frames": args.frames, "canvas": [600, 800]}


def run_dice(args) -> dict:
    import torch

    from echoseg.data.files import read_video_frames
    from echoseg.data.synthetic.export_files import write_export_avi
    from echoseg.data.synthetic.writers import write_avi
    from echoseg.inference.predict import PredictSettings, predict_videos
    from echoseg.inference.segmenter import load_segmenter

    torch.set_num_threads(args.threads)
    segmenter = load_segmenter(args.checkpoint)
    rows, cases, timings = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for export in exports(args.videos, args.seed, args.frames, args.size):
            write_export_avi(tmp / "in" / f"{export.case_id}.avi", export)
            # The clean square fan as an EchoNet-style MJPG AVI (the compression the model was trained with).
            clean_file = tmp / "clean" / f"{export.case_id}.avi"
            write_avi(clean_file, export.clean_video, export.fps)
            clean_frames = read_video_frames(clean_file).frames
            clean = segmenter.segment(clean_frames)
            # Diagnostic: the same clean frames first upsampled to the size they have on the canvas, as
            # the export path resamples them (then area-downsampled to the model by the Segmenter).
            placed = int(round(export.placement["scale"] * clean_frames.shape[1]))
            upsampled = np.stack([cv2.resize(f, (placed, placed), interpolation=cv2.INTER_LINEAR) for f in clean_frames])
            resampled = _square_to_grid(segmenter.segment(upsampled), clean_frames.shape[1])
            cases.append((export.case_id, export))
            rows.append({"case": export.case_id, "clean": float(_dice_per_frame(clean, export.clean_masks).mean()),
                         "clean_resampled": float(_dice_per_frame(resampled, export.clean_masks).mean())})
        for mode, kwargs in (("crop", {"crop": True}), ("whole_fan", {"crop": True, "framing": "whole"}),
                             ("no_crop", {"crop": False})):
            out = tmp / mode
            start = time.perf_counter()
            report = predict_videos([tmp / "in"], segmenter, out, PredictSettings(overlay=False, progress=False, **kwargs))
            timings[mode] = {"seconds": time.perf_counter() - start, "fan_seconds": report.seconds["fan"],
                             "errors": len(report.errors)}
            for row, (case, export) in zip(rows, cases, strict=True):
                masks_file = out / case / "masks.npz"
                if masks_file.is_file():
                    with np.load(masks_file) as npz:
                        masks = npz["masks"]
                else:  # a video predict could not do counts as Dice 0
                    masks = np.zeros_like(export.masks)
                row[mode] = float(_dice_per_frame(masks, export.masks).mean())
                # The same masks taken back to the generator's grid, to compare with `clean` on one grid.
                row[f"{mode}_gen_grid"] = float(_dice_per_frame(_to_generator_grid(masks, export),
                                                                export.clean_masks).mean())
    modes = ("clean", "clean_resampled", "crop", "whole_fan", "no_crop", "crop_gen_grid", "whole_fan_gen_grid",
             "no_crop_gen_grid")
    table = {key: np.array([r[key] for r in rows]) for key in modes}
    summary = {key: {"mean": float(v.mean()), "ci95": bootstrap_mean_ci(v)} for key, v in table.items()}
    for a, b in (("crop_gen_grid", "clean"), ("crop_gen_grid", "clean_resampled"), ("whole_fan_gen_grid", "clean"),
                 ("crop", "no_crop"), ("crop", "whole_fan")):
        diff = table[a] - table[b]
        summary[f"{a} - {b}"] = {"mean": float(diff.mean()), "ci95": bootstrap_mean_ci(diff)}
    return {"dice": summary, "videos": len(rows), "checkpoint": str(args.checkpoint),
            "model": segmenter.weights.model, "input_size": list(segmenter.input_size), "predict": timings,
            "rows": rows}


def _to_generator_grid(masks: np.ndarray, export) -> np.ndarray:
    """Canvas masks (T, H, W) -> the generator's (T, S, S) grid through the placed square (area-weighted)."""
    ox, oy = export.placement["offset_xy"]
    side = export.clean_video.shape[1]
    placed = int(round(export.placement["scale"] * side))
    return _square_to_grid(masks[:, oy:oy + placed, ox:ox + placed], side)


def _square_to_grid(masks: np.ndarray, side: int) -> np.ndarray:
    return np.stack([cv2.resize(m.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA) > 0.5 for m in masks])


def _dice_per_frame(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    inter = (pred & truth).reshape(len(pred), -1).sum(axis=1)
    total = pred.reshape(len(pred), -1).sum(axis=1) + truth.reshape(len(truth), -1).sum(axis=1)
    return np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("detect", "decode", "dice"))
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=160, help="generator frame size before placing on the canvas")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3, help="decode: timed reads per syntax")
    parser.add_argument("--checkpoint", type=Path, help="dice: weights file or run folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    result = {"detect": run_detect, "decode": run_decode, "dice": run_dice}[args.what](args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
