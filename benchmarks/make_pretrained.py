"""Make the synthetic-pretrained model that `echoseg predict` uses by default (issue 10).

    PYTHONPATH=src python benchmarks/make_pretrained.py --out runs/pretrained [--install]

Seeded and resumable (rerun with the same --out continues). Synthesizes 200 realistic-preset videos,
trains the CPU preset's SSCF on them for 2500 steps with 2 torch threads (about 30-40 min on 2 free
cores), scores the exported float16 weights on the 20 held-out test videos and writes
OUT/sscf_cpu_synthetic.safetensors and OUT/pretrain_summary.json; --install copies the weights to
src/echoseg/pretrained/. The recipe is `echoseg.workflows.pretrain.RECIPE`, recorded in the file.
The model is trained on synthetic data only; for research.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from echoseg.workflows.pretrain import make_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/pretrained", help="working folder (data, run, exported weights)")
    parser.add_argument("--install", action="store_true", help="copy the weights into the package (src/echoseg/pretrained/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    result = make_pretrained(args.out, install=args.install, progress=not args.no_progress)
    print(json.dumps(result.summary, indent=2))
    print(f"weights: {result.weights}" + (f"; installed as {result.installed}" if result.installed else ""))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
