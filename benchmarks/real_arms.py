"""Two models on real video, several training seeds each: arm A minus arm B with CIs that carry seed variance.

    python -m benchmarks.real_arms --a A0/real_bench.json A1/real_bench.json A2/real_bench.json \
        --b B0/real_bench.json B1/real_bench.json B2/real_bench.json [--out arms.json]

Each file is `benchmarks.bench_real`'s output for one trained model. A generator or recipe change is one arm
(its training seeds 0, 1, 2, ...), the unchanged recipe the other, with the same seeds in the same order:
the i-th file of A is paired with the i-th of B (the protocols pair runs by seed the same way). On the
real videos, a second training seed of the same recipe moves plausibility by about 0.04 and EF MAE by about
1 point (benchmarks/RESULTS.md, "Control: the unchanged recipe with another training seed"), so one run per
arm and a videos-only interval (`bench_real --against`) cannot tell a change from seed noise. This prints,
for |EF error| against FileList (lower is better) and the label-free plausibility score, the mean
difference with a 95% interval that resamples the seed pairs and then the videos within them
(`echoseg.evaluation.bootstrap.seed_video_ci`, as `echoseg ablation` does), each seed pair's difference,
and each arm's EF MAE / bias / plausibility per seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.bench_real import HIGHER_IS_BETTER, per_video_differences
from echoseg.evaluation.bootstrap import per_seed_text, seed_video_ci, verdict
from echoseg.io import atomic_write_text


def compare_arms(arm_a: list[list[dict]], arm_b: list[list[dict]]) -> dict[str, dict]:
    """Arm A minus arm B: {metric: seeds x videos CI with "per_seed" and "verdict"}; each arm is one list of
    bench_real video rows per training seed, paired by position."""
    if len(arm_a) != len(arm_b) or not arm_a:
        raise ValueError(f"the arms need the same number of training seeds, paired in order (got {len(arm_a)} "
                         f"and {len(arm_b)})")
    pairs = [per_video_differences(a, b) for a, b in zip(arm_a, arm_b, strict=True)]
    out = {}
    for key, higher in HIGHER_IS_BETTER.items():
        ci = seed_video_ci({seed: differences[key] for seed, differences in enumerate(pairs)})
        out[key] = {**ci, "verdict": verdict(ci, higher_is_better=higher)}
    return out


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: not a readable bench_real real_bench.json ({e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=Path, nargs="+", required=True,
                        help="arm A: one real_bench.json per training seed (the changed model)")
    parser.add_argument("--b", type=Path, nargs="+", required=True,
                        help="arm B: one real_bench.json per training seed, same seeds in the same order")
    parser.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    arms = {"A": [_read(p) for p in args.a], "B": [_read(p) for p in args.b]}
    try:
        result = compare_arms([r["videos"] for r in arms["A"]], [r["videos"] for r in arms["B"]])
    except ValueError as e:
        sys.exit(str(e))
    for name, runs in arms.items():
        per_seed = ", ".join(f"MAE {r['summary']['mae']:.1f} bias {r['summary']['bias']:+.1f} plausibility "
                             f"{r['summary']['plausibility']:.3f}" for r in runs)
        print(f"arm {name} per seed: {per_seed}")
    for key, ci in result.items():
        print(f"{key}, A - B: {ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}] over {ci['seeds']} seed "
              f"pairs x {ci['n']} videos: {ci['verdict']} (per seed {per_seed_text(ci)})")
    if args.out:
        atomic_write_text(args.out, json.dumps({"a": [str(p) for p in args.a], "b": [str(p) for p in args.b],
                                                **result}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
