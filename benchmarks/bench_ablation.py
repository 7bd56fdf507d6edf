"""Accuracy ablation on synthetic data: the paper's Table 2 in form (and Table 5 with --k).

    python -m benchmarks.bench_ablation [--videos 48] [--steps 200] [--seeds 0,1,2]
        [--variants unet,baseline,baseline_tce,baseline_bssf,sscf] [--k 1,3,5] [--out runs/bench_ablation]

Synthesizes medium-difficulty videos in the EchoNet layout (only ED and ES traced, as in the real
data: what training and evaluation see), then runs `echoseg ablation` (`run_ablation`): every
variant with every seed on the generator's train/val/test split, the CPU preset's network and
optimizer settings with `--steps` optimizer steps for every row (`unet` supervised only on single
frames, the others with mean teacher), each run's best checkpoint evaluated on the test videos.
Prints the table (mean ± std over seeds of DC, HD in px, AUC, EF corr and EF MAE against the
generator's EF) and appends it, with the command, machine and wall time, to --results. Rerunning
with the same --out skips finished runs. The paper's ordering (its Table 2, EchoNet-Dynamic DC) is
printed beside the measured one.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import time
from pathlib import Path

from benchmarks.common import machine_description, paper_dice_hd

# The paper's Table 2, EchoNet-Dynamic column, DC (%) and HD (mm): the reference ordering.
PAPER_ECHONET = {v: paper_dice_hd("echonet")[v] for v in ("unet", "baseline", "baseline_tce", "baseline_bssf", "sscf")}


def ordering(values: dict[str, float], ascending: bool = True) -> str:
    names = sorted(values, key=values.get, reverse=not ascending)
    return " < ".join(names) if ascending else " > ".join(names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_ablation"), help="work folder (data, runs)")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "ablation_results.md",
                        help="Markdown file the tables are appended to")
    parser.add_argument("--videos", type=int, default=48, help="synthetic videos (70/15/15 train/val/test)")
    parser.add_argument("--frames", type=int, default=64, help="frames per video")
    parser.add_argument("--size", type=int, default=112, help="frame size (EchoNet: 112)")
    parser.add_argument("--difficulty", default="medium", choices=["easy", "medium", "hard"])
    parser.add_argument("--config", default="cpu", help="training preset or YAML (every row uses it)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per run (the same for every row)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--variants", default="unet,baseline,baseline_tce,baseline_bssf,sscf")
    parser.add_argument("--k", default=None, help="also run the k sweep (Table 5) of sscf at these windows")
    parser.add_argument("--k-seeds", default=None, help="seeds of the k sweep (default: --seeds)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    from echoseg.data.synthetic import generate_dataset, write_echonet
    from echoseg.training.config import resolve_config
    from echoseg.workflows.ablation import run_ablation
    from echoseg.workflows.protocols import Timing

    started = time.perf_counter()
    data = args.out / "data" / "echonet"
    if not (data / "FileList.csv").is_file():
        write_echonet(data, generate_dataset(args.videos, seed=1234, frames=args.frames, size=args.size,
                                             difficulty=args.difficulty))
    config = resolve_config(args.config, [f"optim.steps={args.steps}", *args.overrides])
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    table2 = run_ablation(config, data, "echonet", args.out / "table2", variants=variants, seeds=seeds,
                          label="synthetic")
    sections = [("Table 2 form (variants)", table2)]
    if args.k:
        k_seeds = [int(s) for s in (args.k_seeds or args.seeds).split(",")]
        table5 = run_ablation(config, data, "echonet", args.out / "table5", variants=["sscf"], seeds=k_seeds,
                              windows=[int(k) for k in args.k.split(",")], timing=Timing(),
                              label="synthetic")
        sections.append(("Table 5 form (sscf at each k; ms/frame: channels_last CPU whole-video inference, "
                         f"{config.data.input_size[0]}x{config.data.input_size[1]}, torch threads: "
                         f"{torch.get_num_threads()})", table5))
    minutes = (time.perf_counter() - started) / 60

    rows = table2.summary["rows"]
    dice = {name: r["aggregate"]["dice"]["mean"] for name, r in rows.items() if r["aggregate"].get("dice")}
    hd = {name: r["aggregate"]["hd"]["mean"] for name, r in rows.items() if r["aggregate"].get("hd")}
    paper = {v: PAPER_ECHONET[v] for v in dice if v in PAPER_ECHONET}
    lines = [
        f"\n## Run of {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes')}\n",
        f"Command: `python -m benchmarks.bench_ablation {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine_description()}; wall time {minutes:.1f} min.  ",
        f"Data: {args.videos} synthetic {args.difficulty} videos, {args.frames} frames at {args.size}x{args.size}, "
        "EchoNet layout (only ED/ES traced), the generator's 70/15/15 split; every run evaluated on the same "
        f"{table2.summary['folds'][0]['test']} test videos (ED and ES frames). Training: preset "
        f"`{args.config}` ({config.model.settings}, input {config.data.input_size[0]}x{config.data.input_size[1]}, "
        f"lr {config.optim.lr}), {args.steps} steps for every row; seeds {seeds}. HD in pixels of the "
        "original 112x112 frames (EchoNet layout has no spacing). EF: monoplane method of disks on the "
        "predicted ED/ES masks vs the generator's EF.\n",
    ]
    for title, result in sections:
        lines += [f"### {title}\n", result.table, ""]
        if result.failed:
            lines.append("Failed runs: " + "; ".join(f"{o.name}: {o.error}" for o in result.failed) + "\n")
    if dice and paper:
        lines += [f"Ordering by DC, measured: {ordering(dice)}  ",
                  f"Ordering by DC, paper (EchoNet-Dynamic, Table 2): "
                  f"{ordering({v: p[0] for v, p in paper.items()})}  ",
                  f"Ordering by HD (lower is better), measured: {ordering(hd, ascending=False)}  ",
                  f"Ordering by HD, paper: {ordering({v: p[1] for v, p in paper.items()}, ascending=False)}\n"]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.results.is_file():
        args.results.write_text("# Accuracy ablation on synthetic data (benchmarks/bench_ablation.py)\n\n"
                                "Numbers from a shared 2-core CPU machine with a small budget; see each run's notes.\n")
    with open(args.results, "a") as handle:
        handle.write(text)
    return 1 if any(result.failed for _, result in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
