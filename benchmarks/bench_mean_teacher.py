"""Does mean teacher help? Semi-supervised vs supervised-only, same network, same step budget.

    python -m benchmarks.bench_mean_teacher [--steps 300] [--seeds 0 1 2] [--videos 24]

Synthetic medium videos; only ED and ES are labelled (2 labelled frames per video, the EchoNet
setting; the generator's other masks are not used for training). Both arms train the CPU preset's
network for the same number of optimizer steps with the same labelled batches (the labelled stream
depends only on the seed); the mean-teacher arm also sees unlabelled windows of every frame. Each
run's best checkpoint (by validation Dice, student or teacher) is scored on the test split's ED/ES
frames. `--set mean_teacher.perturb.enabled=false --arms mt` measures the student/teacher
perturbations' effect. Prints one row per run and the mean per arm; record the numbers in benchmarks/RESULTS.md
whatever they show.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import synthetic_samples
from echoseg.models.checkpoint import load_model
from echoseg.training import resolve_config, train
from echoseg.training.cache import InMemorySource, build_frame_cache
from echoseg.training.dataset import labeled_windows
from echoseg.training.trainer import validation_dice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--arms", nargs="+", choices=["mt", "sup"], default=["mt", "sup"],
                        help="which arms to run (mt: mean teacher, sup: supervised only)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = parser.parse_args()
    torch.set_num_threads(1)
    samples = synthetic_samples(args.videos, 1234, frames=args.frames)
    test = [s for s in samples if s.split == "test"]
    print(f"{len(samples)} videos: " + ", ".join(f"{n} {sp}" for sp in ("train", "val", "test")
                                                 if (n := sum(s.split == sp for s in samples))))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = resolve_config(args.config, [f"optim.steps={args.steps}", "data.use_all_frame_labels=false",
                                            "data.num_workers=1", *args.overrides])
        size = tuple(base.data.input_size)
        test_cache = build_frame_cache(InMemorySource(test), [(s.case_id, "test") for s in test], size,
                                       Path(tmp) / "test-cache", "bench-test")
        test_windows = labeled_windows(test_cache, test_cache.indices("test"), use_all_frame_labels=False)
        for seed in args.seeds:
            for arm, enabled in (("mean teacher", True), ("supervised", False)):
                if ("mt" if enabled else "sup") not in args.arms:
                    continue
                config = resolve_config(args.config, [f"optim.steps={args.steps}", f"runtime.seed={seed}",
                                                      f"mean_teacher.enabled={str(enabled).lower()}",
                                                      "data.use_all_frame_labels=false", "data.num_workers=1",
                                                      *args.overrides])
                torch.manual_seed(seed)
                start = time.perf_counter()
                result = train(config, out_dir=Path(tmp) / f"{arm}-{seed}", samples=samples)
                minutes = (time.perf_counter() - start) / 60
                model, _ = load_model(result.best_checkpoint)
                test_dice = validation_dice(model, test_cache, test_windows, model.window, torch.device("cpu"))
                rows.append((arm, seed, result.best_dice, result.best_which, test_dice, minutes))
                print(f"{arm:13s} seed {seed}: val Dice {result.best_dice:.4f} ({result.best_which}), "
                      f"test Dice {test_dice:.4f}, {minutes:.1f} min", flush=True)
    for arm in ("mean teacher", "supervised"):
        test_scores = [r[4] for r in rows if r[0] == arm]
        if not test_scores:
            continue
        spread = statistics.stdev(test_scores) if len(test_scores) > 1 else 0.0
        print(f"{arm:13s}: test Dice mean {statistics.mean(test_scores):.4f} +- {spread:.4f} over seeds {args.seeds}")


if __name__ == "__main__":
    main()
