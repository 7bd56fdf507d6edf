"""Learning curves of an ablation's rows: validation Dice against steps, per seed and averaged, and
the budget at which every row has stopped improving (issue 23: pick Table 2's budget from these).

    python -m benchmarks.learning_curves ABLATION_OUT [--png curves.png] [--tolerance 0.005]

Reads ABLATION_OUT/runs/<row>/seed<s>/fold0/train/metrics.csv (the trainer's log; the runs need
`--set runtime.val_interval=N`). A row's plateau step: the first validation step from which its
seed-averaged validation Dice, smoothed over 3 validations, stays within `tolerance` of the best it
reaches in the run. The budget: the largest plateau step over the rows. If the best is in the last
three validations, the row may still be improving and is marked "not converged".
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def read_curve(metrics_csv: Path, column: str = "val_dice_student") -> dict[int, float]:
    """{step: validation Dice} from one run's metrics.csv."""
    with open(metrics_csv, newline="") as f:
        return {int(row["step"]): float(row[column]) for row in csv.DictReader(f) if row.get(column)}


def row_curves(out: Path) -> dict[str, dict[int, dict[int, float]]]:
    """{row folder: {seed: {step: val Dice}}} of every run that logged validations."""
    rows: dict[str, dict[int, dict[int, float]]] = {}
    for metrics in sorted(out.glob("runs/*/seed*/fold0/train/metrics.csv")):
        row, seed = metrics.parts[-5], int(metrics.parts[-4].removeprefix("seed"))
        curve = read_curve(metrics)
        if curve:
            rows.setdefault(row, {})[seed] = curve
    return rows


def plateau(steps: np.ndarray, mean: np.ndarray, tolerance: float) -> tuple[int, bool]:
    """(plateau step, converged): see the module doc."""
    smooth = np.array([mean[max(0, i - 1):i + 2].mean() for i in range(len(mean))])  # edges: fewer points
    best = smooth.max()
    within = smooth >= best - tolerance
    first = next((i for i in range(len(within)) if within[i:].all()), None)
    if first is None:  # fell away from its best at the end (unstable): no plateau
        return int(steps[-1]), False
    return int(steps[first]), int(np.argmax(smooth)) < len(smooth) - 3


def summarize(out: Path, tolerance: float) -> list[dict]:
    table = []
    for row, seeds in row_curves(out).items():
        common = sorted(set.intersection(*(set(c) for c in seeds.values())))
        if len(common) < 2:
            continue
        steps = np.array(common)
        values = np.array([[seeds[s][t] for t in common] for s in sorted(seeds)])
        mean = values.mean(axis=0)
        at, converged = plateau(steps, mean, tolerance)
        table.append({"row": row, "seeds": len(seeds), "last_step": int(steps[-1]), "plateau_step": at,
                      "converged": converged, "best": float(mean.max()), "last": float(mean[-1]),
                      "steps": steps.tolist(), "mean": mean.round(4).tolist()})
    return table


def plot(table: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for r in table:
        ax.plot(r["steps"], r["mean"], label=f"{r['row']} (plateau {r['plateau_step']})")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation Dice (mean over seeds)")
    ax.set_ylim(max(0.0, min(min(r["mean"][1:] or [0]) for r in table) - 0.02), 1.0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="an `echoseg ablation --out` folder")
    parser.add_argument("--tolerance", type=float, default=0.005, help="plateau: within this of the best (default 0.005)")
    parser.add_argument("--png", type=Path, default=None, help="also plot the curves here")
    args = parser.parse_args(argv)
    table = summarize(args.out, args.tolerance)
    print("| row | seeds | steps run | plateau step | best val Dice | last | converged |")
    print("|---|:---:|:---:|:---:|:---:|:---:|:---:|")
    for r in table:
        print(f"| {r['row']} | {r['seeds']} | {r['last_step']} | {r['plateau_step']} | {r['best']:.4f} | "
              f"{r['last']:.4f} | {'yes' if r['converged'] else 'not yet'} |")
    if table:
        print(f"budget where every row has plateaued: {max(r['plateau_step'] for r in table)} steps"
              + ("" if all(r["converged"] for r in table) else " (some rows not converged: run longer)"))
    if args.png and table:
        plot(table, args.png)


if __name__ == "__main__":
    main()
