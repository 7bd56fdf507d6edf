"""How hard is each synthetic preset for a given model, and does the synthetic-pretrained model help
fine-tuning? (issue 10)

    # Dice of each checkpoint on fresh test sets of each preset (paired bootstrap CIs between checkpoints)
    python -m benchmarks.bench_transfer gap --checkpoint medium=runs/demo_medium/train \\
        --checkpoint realistic=runs/demo/train --presets medium realistic --videos 40 --out /tmp/gap

    # Fine-tuning with 8 labelled frames (4 videos, ED + ES) of another preset: --init pretrained vs scratch
    python -m benchmarks.bench_transfer finetune --pretrained src/echoseg/pretrained/sscf_cpu_synthetic.safetensors \\
        --preset hard --steps 300 --out /tmp/finetune

Test sets are generated with their own seed (never the training data's). Dice is the per-video mean of
the ED and ES frames; a difference between two models is the mean of their paired per-video differences
with a 95% paired bootstrap interval (2000 resamples): an interval containing 0 is "no difference shown".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from echoseg.evaluation.bootstrap import bootstrap_ci


def synthesize(root: Path, preset: str, videos: int, seed: int, splits: tuple[float, float, float]) -> None:
    """EchoNet layout (ED/ES tracings: what training sees) and native layout (what evaluation reads)."""
    from echoseg.data.synthetic import generate_dataset, write_echonet, write_synthetic

    if (root / "synthetic" / "cases.csv").is_file():
        return
    data = generate_dataset(videos, seed, difficulty=preset, split_fractions=splits)
    write_echonet(root / "echonet", data)
    write_synthetic(root / "synthetic", data)


def per_video(checkpoint: str | Path, root: Path) -> dict[str, dict[str, float]]:
    """{case id: {"dice": mean of ED and ES Dice, "ef_error": |EF pred - EF truth|}} on the test split."""
    from echoseg.data.readers import open_dataset
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.inference.segmenter import load_segmenter

    result = evaluate_model(load_segmenter(checkpoint), open_dataset(root / "synthetic", "synthetic"), split="test",
                            all_frames=False, progress=False)
    return {c.case_id: {"dice": float(np.mean(list(c.dice.values()))), "ef_error": abs(c.ef_pred - c.ef_reference)}
            for c in result.cases}


def summarise(scores: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, cases in scores.items():
        dice = np.array([c["dice"] for c in cases.values()])
        ef = np.array([c["ef_error"] for c in cases.values()])
        out[name] = {"videos": len(dice), "dice_mean": float(dice.mean()), "dice_sd": float(dice.std()),
                     "ef_mae": float(np.nanmean(ef))}
    return out


def compare_pairs(scores: dict[str, dict[str, dict[str, float]]]) -> list[dict]:
    names = list(scores)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = sorted(scores[a].keys() & scores[b].keys())
            ci = bootstrap_ci(np.array([scores[a][c]["dice"] - scores[b][c]["dice"] for c in common]), n_resamples=2000)
            rows.append({"a": a, "b": b, "videos": len(common), "dice_diff": ci["mean"], "ci95": [ci["low"], ci["high"]]})
    return rows


def run_gap(args: argparse.Namespace) -> dict:
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    report = {}
    for preset in args.presets:
        root = args.out / f"test_{preset}"
        synthesize(root, preset, args.videos, args.seed, (0, 0, 1))
        scores = {name: per_video(path, root) for name, path in checkpoints.items()}
        report[preset] = {"models": summarise(scores), "differences": compare_pairs(scores)}
        print(f"test set {preset}: " + json.dumps(report[preset], indent=1))
    return report


def run_finetune(args: argparse.Namespace) -> dict:
    from echoseg.training.api import train
    from echoseg.training.config import resolve_config

    root = args.out / f"data_{args.preset}"
    n_train, n_val = args.labelled_videos, 2
    synthesize(root, args.preset, n_train + n_val + args.test_videos, args.seed,
               (n_train, n_val, args.test_videos))
    overrides = [f"optim.steps={args.steps}", f"runtime.val_interval={max(args.steps // 6, 1)}", "runtime.seed=0",
                 "data.num_workers=0", "runtime.threads=1"]
    scores, seconds = {"pretrained, no fine-tuning": per_video(args.pretrained, root)}, {}
    for arm, extra in (("fine-tuned from pretrained", [f"model.init={json.dumps(str(args.pretrained))}"]),
                       ("from scratch", [])):
        start = time.perf_counter()
        run_dir = args.out / ("init" if extra else "scratch")
        from echoseg.training.run_folder import RunFolder

        result = train(resolve_config("cpu", overrides + extra), root / "echonet", "echonet", run_dir,
                       resume=RunFolder(run_dir).can_resume())
        seconds[arm] = round(time.perf_counter() - start, 1)
        scores[arm] = per_video(result.best_checkpoint, root)
    report = {"preset": args.preset, "labelled_frames": 2 * n_train, "steps": args.steps, "seconds": seconds,
              "models": summarise(scores), "differences": compare_pairs(scores)}
    print(json.dumps(report, indent=1))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    gap = sub.add_parser("gap", help="Dice of checkpoints on fresh test sets of several presets")
    gap.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH", help="repeatable")
    gap.add_argument("--presets", nargs="+", default=["medium", "realistic"])
    gap.add_argument("--videos", type=int, default=40, help="test videos per preset")
    gap.add_argument("--seed", type=int, default=777, help="test set seed (not a training seed)")
    fine = sub.add_parser("finetune", help="--init from the pretrained model vs from scratch, same budget")
    fine.add_argument("--pretrained", type=Path, required=True, help="weights to start from")
    fine.add_argument("--preset", default="hard", help="the other preset the labelled videos come from")
    fine.add_argument("--labelled-videos", type=int, default=4, help="training videos (2 labelled frames each)")
    fine.add_argument("--test-videos", type=int, default=30)
    fine.add_argument("--steps", type=int, default=300, help="training steps of both arms")
    fine.add_argument("--seed", type=int, default=4242, help="dataset seed")
    for p in (gap, fine):
        p.add_argument("--out", type=Path, required=True, help="working folder")
    args = parser.parse_args()
    report = run_gap(args) if args.what == "gap" else run_finetune(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.what}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / (args.what + '.json')}")


if __name__ == "__main__":
    main()
