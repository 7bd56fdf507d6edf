"""Does fine-tuning on a few traced videos end below the model it started from? (issue 22)

    python -m benchmarks.bench_finetune --out /tmp/finetune [--init W] [--preset hard]
        [--data-seeds 1 2 3] [--steps 300]

For each data seed: synthesize a small dataset of another preset than the starting model was trained on
(`hard` by default: a domain gap, as real video is to the built-in model) with 4 traced training videos
(ED + ES: 8 labelled frames), 2 validation videos and 30 test videos; then fine-tune the starting model
(the built-in one unless --init) two ways, same steps and seed:
- "full rate": `optim.init_lr_scale=1`, the from-scratch learning rate (the recipe before issue 22);
- "recipe": the default fine-tuning, a tenth of that rate.
Both runs keep step 0 (the starting model) as a candidate for their best checkpoint, the guard issue 22
added; the full-rate run's *last* checkpoint shows what training without that guard ends with.

Scores are Dice (mean of the ED and ES frames) per test video. Each arm's difference from the starting
model is the mean of paired per-video differences with a 95% bootstrap interval that resamples data
seeds and then test videos within them (the variance of which four videos were traced is in it); the
per-seed differences are printed beside it. An interval containing 0 is "no difference shown".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ARMS = ("full rate, last", "full rate, best", "recipe, best")


def synthesize(root: Path, preset: str, seed: int, n_train: int, n_val: int, n_test: int) -> None:
    """EchoNet layout (ED/ES tracings: what fine-tuning sees) and native layout (what evaluation reads)."""
    from echoseg.data.synthetic import generate_dataset, write_echonet, write_synthetic

    if (root / "synthetic" / "cases.csv").is_file():
        return
    data = generate_dataset(n_train + n_val + n_test, seed, difficulty=preset,
                            split_fractions=(n_train, n_val, n_test))
    write_echonet(root / "echonet", data)
    write_synthetic(root / "synthetic", data)


def test_dice(weights: str | Path, root: Path) -> dict[str, float]:
    """{case id: mean of ED and ES Dice} on the test split."""
    from echoseg.data.readers import open_dataset
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.inference.segmenter import load_segmenter

    result = evaluate_model(load_segmenter(weights), open_dataset(root / "synthetic", "synthetic"), split="test",
                            all_frames=False, progress=False)
    return {c.case_id: float(np.mean(list(c.dice.values()))) for c in result.cases}


def fine_tune(init: Path, root: Path, run_dir: Path, steps: int, extra: list[str]) -> tuple[Path, Path, float]:
    """Train; returns (best weights, last weights, seconds)."""
    from echoseg.training.api import train
    from echoseg.training.config import resolve_config
    from echoseg.training.run_folder import RunFolder

    overrides = [f"optim.steps={steps}", f"runtime.val_interval={max(steps // 6, 1)}", "runtime.seed=0",
                 "data.num_workers=0", "runtime.threads=1", f"model.init={json.dumps(str(init))}"] + extra
    start = time.perf_counter()
    run = RunFolder(run_dir)
    result = train(resolve_config("cpu", overrides), root / "echonet", "echonet", run_dir,
                   resume=run.can_resume(), progress=False)
    return Path(result.best_checkpoint), run.last_weights, time.perf_counter() - start


def hierarchical_ci(per_seed: list[np.ndarray], resamples: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of all paired differences, and a 95% interval resampling seeds, then videos within each."""
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for i in range(resamples):
        chosen = rng.integers(0, len(per_seed), len(per_seed))
        means[i] = np.mean(np.concatenate([rng.choice(per_seed[j], len(per_seed[j])) for j in chosen]))
    pooled = float(np.mean(np.concatenate(per_seed)))
    return pooled, float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (data, runs, finetune.json)")
    parser.add_argument("--init", type=Path, default=None, help="weights to start from (default: the built-in model)")
    parser.add_argument("--preset", default="hard", help="preset the traced videos come from (default hard)")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[1, 2, 3], help="one small dataset per seed")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps (default 300)")
    parser.add_argument("--train-videos", type=int, default=4, help="traced training videos (default 4)")
    parser.add_argument("--test-videos", type=int, default=30, help="test videos per data seed (default 30)")
    args = parser.parse_args()
    from echoseg.inference.segmenter import pretrained_path

    init = args.init or pretrained_path()
    diffs: dict[str, list[np.ndarray]] = {arm: [] for arm in ARMS}
    report: dict = {"init": str(init), "preset": args.preset, "steps": args.steps, "seeds": {}}
    for seed in args.data_seeds:
        root = args.out / f"data_{seed}"
        synthesize(root, args.preset, 5000 + seed, args.train_videos, 2, args.test_videos)
        start = test_dice(init, root)
        row: dict = {"start": float(np.mean(list(start.values()))), "seconds": {}}
        runs = {}
        for name, extra in (("full rate", ["optim.init_lr_scale=1"]), ("recipe", [])):
            best, last, seconds = fine_tune(init, root, args.out / f"run_{seed}_{name.replace(' ', '_')}",
                                            args.steps, extra)
            runs[f"{name}, best"], runs[f"{name}, last"] = best, last
            row["seconds"][name] = round(seconds, 1)
        for arm in ARMS:
            scores = test_dice(runs[arm], root)
            paired = np.array([scores[c] - start[c] for c in sorted(start)])
            diffs[arm].append(paired)
            row[arm] = float(np.mean(list(scores.values())))
        report["seeds"][seed] = row
        print(f"data seed {seed}: " + json.dumps(row), flush=True)
    report["vs_start"] = {}
    for arm, per_seed in diffs.items():
        mean, low, high = hierarchical_ci(per_seed)
        report["vs_start"][arm] = {"diff": mean, "ci95": [low, high],
                                   "per_seed": [float(d.mean()) for d in per_seed]}
        print(f"{arm} - start: {mean:+.3f} [{low:+.3f}, {high:+.3f}]; per seed "
              + " / ".join(f"{d.mean():+.3f}" for d in per_seed))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "finetune.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / 'finetune.json'}")


if __name__ == "__main__":
    main()
