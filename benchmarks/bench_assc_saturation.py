"""ASSC attention saturation at initialisation, per encoder stage, for each calibration scale.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_assc_saturation.py --width 1.0 --size 64

Saturated: |Q'K'^T / s| > ln 99, i.e. the attention sigmoid is outside [0.01, 0.99] and passes
less than 1% of the gradient to Tq and Tk. Input: uniform noise frames (or one synthetic video's
windows with --synthetic), BatchNorm in train mode (the first training step). Prints a markdown
table of the mean over the previous/next calibrators and over --seeds initialisations.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from echoseg.models import create_model
from echoseg.models.benchmark import attention_saturation
from echoseg.models.calibration import SCALES


def frames_for(args, seed: int) -> torch.Tensor:
    if not args.synthetic:
        return torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(seed))
    from echoseg.data.resize import resize_video
    from echoseg.data.synthetic.generator import generate_video

    video = resize_video(generate_video(seed, frames=max(16, args.batch + 2)).sample.video, (args.size, args.size))
    x = torch.from_numpy(np.asarray(video)).float() / 255
    return torch.stack([x[i:i + 3] for i in range(args.batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1.0, help="network width multiplier (1.0 = 64..512 channels)")
    parser.add_argument("--size", type=int, default=64, help="input height and width (multiple of 16)")
    parser.add_argument("--batch", type=int, default=4, help="windows per forward pass")
    parser.add_argument("--seeds", type=int, default=3, help="initialisations to average over")
    parser.add_argument("--synthetic", action="store_true", help="synthetic echo frames instead of noise")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = {}
    for scale in SCALES:
        per_seed = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = create_model("sscf", width=args.width, calibration_scale=scale)
            sat = attention_saturation(model, frames_for(args, seed))
            per_seed.append([float(np.mean(stage)) for stage in sat])
        rows[scale] = np.mean(per_seed, axis=0)
    source = "synthetic medium frames" if args.synthetic else "uniform noise"
    print(f"sscf width {args.width}, {args.size}x{args.size} {source}, batch {args.batch}, train-mode BatchNorm, "
          f"mean of {args.seeds} initialisations: % of attention entries with |logit| > ln 99\n")
    print("| calibration_scale | " + " | ".join(f"stage {i + 1}" for i in range(len(rows[SCALES[0]]))) + " |")
    print("|---|" + ":---:|" * len(rows[SCALES[0]]))
    for scale, values in rows.items():
        print(f"| {scale} | " + " | ".join(f"{100 * v:.1f}%" for v in values) + " |")


if __name__ == "__main__":
    main()
