"""Does `echoseg adapt` help on a domain gap whose truth we know? (issue 22)

    python -m benchmarks.bench_adapt --out /tmp/adapt_bench [--init W] [--preset hard]
        [--data-seeds 1 2 3] [--steps 800] [--target-videos 24] [--test-videos 30]

On real echo nothing without tracings says whether adaptation moved the masks the right way (its check
is plausibility, and on EchoNet-Dynamic a more plausible candidate had a worse EF). Here the "user's
videos" are synthetic video of another preset than the starting model was trained on (`hard` by default:
the built-in model loses about 0.14 Dice there), so the truth is known. For each data seed:
- `target-videos` untraced videos of the preset (AVI files, all adapt sees) and `test-videos` others of
  the same preset with their truth;
- `echoseg adapt` on the untraced ones (the shipped recipe, `--steps`, its label-free check and choice);
- Dice (mean of the ED and ES frames) and the EF error (masks' EF minus the truth's, at the true ED and ES
  frames) on the test videos for each candidate the check judged (the start, the start with the target's
  BatchNorm statistics, the adapted teacher, the adapted student with the target's statistics or with its
  own) and for the one adapt chose. The EF error says whether the candidates' EF shift, which adapt's guard refuses
  above 5 points, moves towards the truth or away from it.
Each candidate's difference from the start is the mean of paired per-video differences with a 95%
interval resampling data seeds and then videos within them; per-seed differences beside it. The report
also says, per seed, which candidate the label-free check chose and which one the truth ranks first.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_finetune import hierarchical_ci


def synthesize(root: Path, preset: str, seed: int, n_target: int, n_test: int) -> list[Path]:
    """Untraced target videos (AVI, EchoNet layout; returns their paths) and traced test videos (native)."""
    from echoseg.data.synthetic import generate_dataset, write_echonet, write_synthetic

    if not (root / "test" / "cases.csv").is_file():
        write_echonet(root / "target", generate_dataset(n_target, seed, difficulty=preset))
        write_synthetic(root / "test", generate_dataset(n_test, seed + 1_000_000, difficulty=preset,
                                                        split_fractions=(0, 0, n_test)))
    return sorted((root / "target" / "Videos").glob("*.avi"))


def test_scores(model, input_size, mask_rule, root: Path) -> dict[str, tuple[float, float]]:
    """{case id: (mean of ED and ES Dice, EF error)} of `model` on the test videos; the EF error is the EF
    of its masks minus that of the truth, both at the true ED and ES frames."""
    from echoseg.data.readers import open_dataset
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.inference.segmenter import Segmenter
    from echoseg.models.fold_bn import fold_batchnorm

    segmenter = Segmenter(fold_batchnorm(model), input_size, mask_rule=mask_rule)
    result = evaluate_model(segmenter, open_dataset(root / "test", "synthetic"), split="test", all_frames=False,
                            progress=False)
    return {c.case_id: (float(np.mean(list(c.dice.values()))), float(c.ef_pred - c.ef_true)) for c in result.cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (data, adapt runs, adapt_bench.json)")
    parser.add_argument("--init", type=Path, default=None, help="weights to start from (default: the built-in model)")
    parser.add_argument("--preset", default="hard", help="preset of the target domain (default hard)")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[1, 2, 3], help="one target domain sample per seed")
    parser.add_argument("--steps", type=int, default=800, help="adapt's training steps (default 800, as adapt)")
    parser.add_argument("--target-videos", type=int, default=24, help="untraced videos adapt sees (default 24)")
    parser.add_argument("--test-videos", type=int, default=30, help="traced test videos per data seed (default 30)")
    parser.add_argument("--synthetic-videos", type=int, default=60,
                        help="labelled realistic videos adapt synthesizes (default 60)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a training setting for adapt (repeatable), e.g. mean_teacher.confidence=0.8")
    args = parser.parse_args()
    import torch

    from echoseg.geometry.masks import MaskRule
    from echoseg.inference.segmenter import pretrained_path, recorded_input_size
    from echoseg.models.checkpoint import read_metadata
    from echoseg.models.weights_files import find_weights
    from echoseg.workflows.adapt import AdaptSettings, adapt

    torch.set_num_threads(args.threads)
    init = args.init or pretrained_path()
    info = read_metadata(find_weights(init))  # the input size and mask rule every candidate is scored with
    input_size, rule = recorded_input_size(info), MaskRule.from_metadata(info.extra.get("mask_rule"))
    report: dict = {"init": str(init), "preset": args.preset, "steps": args.steps, "overrides": args.overrides,
                    "seeds": {}}
    diffs: dict[str, list[np.ndarray]] = {}
    for seed in args.data_seeds:
        root = args.out / f"data_{seed}"
        target = synthesize(root, args.preset, 7000 + seed, args.target_videos, args.test_videos)
        started = time.perf_counter()
        result = adapt(AdaptSettings(videos=[str(p) for p in target], out=args.out / f"adapt_{seed}", init=args.init,
                                     steps=args.steps, synthetic_videos=args.synthetic_videos, seed=seed,
                                     threads=args.threads, overrides=args.overrides), progress=False)
        seconds = time.perf_counter() - started
        scores = {name: test_scores(model, input_size, rule, root) for name, model in result.candidates.items()}
        dice = {name: {c: v[0] for c, v in per_case.items()} for name, per_case in scores.items()}
        ef_error = {name: np.array([v[1] for v in per_case.values()]) for name, per_case in scores.items()}
        cases = sorted(dice["start"])
        row = {"seconds": round(seconds, 1), "chosen": result.chosen,
               "best_by_truth": max(dice, key=lambda n: np.mean(list(dice[n].values()))),
               "dice": {n: float(np.mean(list(d.values()))) for n, d in dice.items()},
               "ef_bias": {n: float(np.nanmean(e)) for n, e in ef_error.items()},
               "ef_mae": {n: float(np.nanmean(np.abs(e))) for n, e in ef_error.items()},
               "plausibility": {n: c["score"] for n, c in result.report["candidates"].items()},
               "ef_shift": {n: c.get("ef_shift") for n, c in result.report["gain_over_start"].items()}}
        dice["chosen by adapt"] = dice[result.chosen]
        for name, per_case in dice.items():
            if name != "start":
                diffs.setdefault(name, []).append(np.array([per_case[c] - dice["start"][c] for c in cases]))
        report["seeds"][seed] = row
        print(f"data seed {seed}: " + json.dumps(row), flush=True)
    report["vs_start"] = {}
    for name, per_seed in diffs.items():
        mean, low, high = hierarchical_ci(per_seed)
        report["vs_start"][name] = {"diff": mean, "ci95": [low, high], "per_seed": [float(d.mean()) for d in per_seed]}
        print(f"{name} - start: {mean:+.3f} [{low:+.3f}, {high:+.3f}]; per seed "
              + " / ".join(f"{d.mean():+.3f}" for d in per_seed))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adapt_bench.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / 'adapt_bench.json'}")


if __name__ == "__main__":
    main()
