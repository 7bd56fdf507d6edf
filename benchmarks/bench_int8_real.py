"""int8 against float32 on your own videos: does the quantized model keep the masks?

    python -m benchmarks.bench_int8_real VIDEOS_FOLDER [--checkpoint RUN] [--videos 20]

1. int8 calibrated on synthetic video (what `evaluate --int8` does by default), its masks against
   float32's on N videos spread over the folder (mean and worst per-frame Dice);
2. int8 calibrated on half of those videos and checked on the other half (what `predict --int8` does).
The cache entries made here are removed afterwards when calibrated on the folder's videos (they may be
research-licensed data). Results: benchmarks/RESULTS.md, "Inference engines".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from echoseg.errors import EchosegError
from echoseg.inference import onnx_cache
from echoseg.inference.segmenter import load_segmenter, pretrained_path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a folder of videos (searched recursively)")
    parser.add_argument("--checkpoint", default=None, help="weights file or run folder (default: the built-in model)")
    parser.add_argument("--videos", type=int, default=20, help="videos to check on (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    segmenter = load_segmenter(args.checkpoint or pretrained_path())
    real = onnx_cache.file_calibration([args.folder], segmenter.input_size, max_videos=args.videos)
    fp32 = onnx_cache.fp32_onnx(segmenter.model, segmenter.weights, segmenter.input_size)
    synthetic = onnx_cache.synthetic_calibration(segmenter.input_size)
    try:
        int8, record = onnx_cache.int8_onnx(segmenter.model, segmenter.weights, segmenter.input_size, synthetic,
                                            segmenter.mask_rule, threads=args.threads)
        print(f"synthetic-calibrated int8, its own check on synthetic video: Dice {record['dice_vs_fp32_mean']}")
        agreement = onnx_cache.mask_agreement(fp32, int8, real.videos, segmenter.mask_rule, window=segmenter.window,
                                              threads=args.threads)
        print(f"synthetic-calibrated int8 vs fp32 on {len(real.videos)} of your videos: {agreement}")
    except EchosegError as exc:
        print(f"synthetic-calibrated int8: {exc}")
    before = set(fp32.parent.glob("*.int8.*"))
    try:
        _, record = onnx_cache.int8_onnx(segmenter.model, segmenter.weights, segmenter.input_size, real,
                                         segmenter.mask_rule, threads=args.threads)
        print(f"calibrated on half of your videos, checked on the other half: Dice {record['dice_vs_fp32_mean']} "
              f"(worst frame {record['dice_vs_fp32_min_frame']}, {record['check_frames']} frames): passes the 0.99 bar")
    except EchosegError as exc:
        print(f"calibrated on half of your videos: {exc}")
    for made in set(fp32.parent.glob("*.int8.*")) - before:
        Path(made).unlink()


if __name__ == "__main__":
    main()
