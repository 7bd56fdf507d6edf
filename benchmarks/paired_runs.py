"""Paired bootstrap CI between two sets of evaluated runs that `echoseg ablation` cannot put in one table.

    python -m benchmarks.paired_runs A_RUN_FOLDER B_RUN_FOLDER [--metrics dice,hd_penalised]

Each argument is an ablation row's folder (e.g. OUT/runs/baseline_MT_labels0.125) holding seed*/fold*/
run.json; its "per_video" holds the protocols' one per-video score (mean over the video's ED and ES
frames, `echoseg.evaluation.metrics.per_video_metrics`: dice, hd, hd_penalised, auc, and ef_abs_error
from ef_pred/ef_reference). Runs of the same seed are paired video by video, seeds pooled per video,
and the 95% CI of A - B comes from `echoseg.workflows.engine.paired_ci` (the one `echoseg ablation`
prints). Before issue 21 this script read metrics.json's all-frames means (dice_mean, hd_mean). Used for issue
11's effect of `data.unlabeled`: the same row trained with and without extra untraced videos, written
to two ablation output folders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from echoseg.data.splits import Fold
from echoseg.evaluation.bootstrap import verdict
from echoseg.workflows import engine
from echoseg.workflows.protocols import RunOutcome

LOWER_IS_BETTER = ("hd", "ef_abs_error")


def row_cases(row_folder: Path, arm: str) -> list[engine.CaseResult]:
    """The per-video results of every finished run under row_folder/seed*/fold*/run.json."""
    runs, outcomes = [], []
    for path in sorted(row_folder.glob("seed*/fold*/run.json")):
        stored = json.loads(path.read_text())
        seed = int(path.parent.parent.name.removeprefix("seed"))
        fold = Fold(index=int(stored["fold"]), source=stored.get("fold_source", ""), train=[], val=[], test=[])
        runs.append(engine.PlannedRun(arm, seed, fold, None, path.parent, stored["name"]))
        outcomes.append(RunOutcome(stored["name"], path.parent, stored["metrics"], per_video=stored.get("per_video")))
    return engine.case_results(runs, outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="row folder A (seed*/fold*/run.json)")
    parser.add_argument("b", type=Path, help="row folder B, the reference")
    parser.add_argument("--metrics", default="dice,hd_penalised", help="comma-separated per-video metrics")
    args = parser.parse_args()
    cases = row_cases(args.a, "A") + row_cases(args.b, "B")
    seeds = sorted({c.seed for c in cases if c.arm == "A"} & {c.seed for c in cases if c.arm == "B"})
    if not seeds:
        parser.error(f"no seed with finished runs in both {args.a} and {args.b}")
    for metric in args.metrics.split(","):
        ci = engine.paired_ci(cases, "A", "B", metric)
        better = verdict(ci, higher_is_better=not metric.startswith(LOWER_IS_BETTER))
        print(f"{metric}: A - B = {ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}] over {ci['n']} videos, "
              f"seeds {seeds}: {better}")


if __name__ == "__main__":
    main()
