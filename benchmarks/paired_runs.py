"""Paired bootstrap CI between two sets of evaluated runs that `echoseg ablation` cannot put in one table.

    python -m benchmarks.paired_runs A_RUN_FOLDER B_RUN_FOLDER [--metrics dice_mean,hd_mean]

Each argument is an ablation row's folder (e.g. OUT/runs/baseline_MT_labels0.125) holding seed*/fold*/
metrics.json; runs of the same seed are paired video by video, seeds pooled per video, and the 95% CI
of A - B comes from `echoseg.evaluation.bootstrap` (the one `echoseg ablation` prints). Used for issue
11's effect of `data.unlabeled`: the same row trained with and without extra untraced videos, written
to two ablation output folders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from echoseg.evaluation.bootstrap import bootstrap_ci, paired_differences, verdict

LOWER_IS_BETTER = ("hd", "ef_abs_error")


def per_seed(row_folder: Path, metric: str) -> dict[int, dict[str, float]]:
    """{seed: {case id: metric}} over seed*/fold*/metrics.json (folds of one seed are disjoint)."""
    out: dict[int, dict[str, float]] = {}
    for path in sorted(row_folder.glob("seed*/fold*/metrics.json")):
        seed = int(path.parent.parent.name.removeprefix("seed"))
        for video in json.loads(path.read_text())["per_video"]:
            if metric in video and video[metric] is not None:
                out.setdefault(seed, {})[video["case_id"]] = float(video[metric])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="row folder A (seed*/fold*/metrics.json)")
    parser.add_argument("b", type=Path, help="row folder B, the reference")
    parser.add_argument("--metrics", default="dice_mean,hd_mean", help="comma-separated per_video keys")
    args = parser.parse_args()
    for metric in args.metrics.split(","):
        a, b = per_seed(args.a, metric), per_seed(args.b, metric)
        if not (set(a) & set(b)):
            parser.error(f"no seed with {metric!r} in both {args.a} and {args.b}")
        ci = bootstrap_ci(paired_differences(a, b))
        better = verdict(ci, higher_is_better=not metric.startswith(LOWER_IS_BETTER))
        print(f"{metric}: A - B = {ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}] over {ci['n']} videos, "
              f"seeds {sorted(set(a) & set(b))}: {better}")


if __name__ == "__main__":
    main()
