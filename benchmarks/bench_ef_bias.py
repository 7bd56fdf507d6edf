"""Where the realistic preset's low EF bias comes from: the demo's recipe on generator variants (issue 10).

    OMP_NUM_THREADS=1 python -m benchmarks.bench_ef_bias --out /tmp/efbias \
        [--arms current,whole_wall_loss,no_wall_loss] [--videos 120] [--seeds 0] [--jobs 2]

Each arm changes one mechanism of the realistic scene (`echoseg.data.synthetic.scene`) and runs the demo
recipe on it (CPU preset, 600 steps, mean teacher, ED/ES tracings only; `--videos` 64-frame videos split
70/15/15). Every arm draws the same hearts (same geometry, motion and reference EF per video; only the
picture differs), so the per-video differences between arms are paired. Prints, per arm: Dice ED/ES,
EF bias and MAE against the reference, and the median predicted/true EDV and ESV; then the paired
bootstrap 95% CI of each arm's |EF error| and ES Dice minus the first arm's (training seeds pooled per
video). Arms run in separate processes (`--jobs` at a time, one torch thread each); rerunning with the
same --out resumes finished demos.

Arms:
  current          the preset as shipped
  whole_wall_loss  the preset before this fix: lost wall falls to the blood's level, septum included
  no_wall_loss     no patchy wall signal loss at all (a control, not realistic: the ring statistics fail)
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from echoseg.evaluation.bootstrap import bootstrap_ci, paired_differences

# Scene settings each arm patches (module constants and level ranges of echoseg.data.synthetic.scene).
ARMS = {
    "current": {},
    "whole_wall_loss": {"levels": {"wall_floor": (-99.0, -99.0)}, "SEPTAL_LOSS": 1.0, "WALL_LOSS_PATCHES": (0.4, 1.0)},
    "no_wall_loss": {"levels": {"wall_loss": (0.0, 0.0)}},
}

RUN_ONE = """
import json, sys
import echoseg.data.synthetic.scene as scene
patch = json.loads(sys.argv[1])
for name, bounds in patch.pop("levels", {}).items():
    scene.REALISTIC_LEVELS_DB[name] = tuple(bounds)
for name, value in patch.items():
    setattr(scene, name, tuple(value) if isinstance(value, list) else value)
from echoseg.workflows.demo import DemoSettings, run_demo
run_demo(DemoSettings(out=sys.argv[2], videos=int(sys.argv[3]), frames=64, seed=0,
                      overrides=["runtime.seed=" + sys.argv[4]], predict_count=0, progress=False))
"""


def run_arm(arm: str, out: Path, videos: int, seed: int) -> Path:
    folder = out / f"{arm}_seed{seed}"
    if not (folder / "per_case.csv").is_file():
        log = (out / f"{arm}_seed{seed}.log").open("w")
        subprocess.run([sys.executable, "-c", RUN_ONE, json.dumps(ARMS[arm]), str(folder), str(videos), str(seed)],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
    return folder / "per_case.csv"


def read_test_cases(path: Path) -> dict[str, dict[str, float]]:
    keys = ("dice_ed", "dice_es", "ef_pred", "ef_reference", "edv_pred", "edv_true", "esv_pred", "esv_true")
    with path.open() as fh:
        return {r["case_id"]: {k: float(r[k]) for k in keys} for r in csv.DictReader(fh) if r["split"] == "test"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="working folder (one demo per arm and seed)")
    parser.add_argument("--arms", default="current,whole_wall_loss,no_wall_loss",
                        help=f"comma-separated arms, the first is the reference ({', '.join(ARMS)})")
    parser.add_argument("--videos", type=int, default=120, help="synthetic videos per demo (70/15/15 split)")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (same videos)")
    parser.add_argument("--jobs", type=int, default=2, help="demos run at once")
    args = parser.parse_args()
    arms = args.arms.split(",")
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {sorted(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(arm, seed) for arm in arms for seed in seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        paths = dict(zip(jobs, pool.map(lambda job: run_arm(job[0], out, args.videos, job[1]), jobs), strict=True))
    cases = {job: read_test_cases(path) for job, path in paths.items()}

    def per_seed(arm: str, metric) -> dict[int, dict[str, float]]:
        return {seed: {case: metric(row) for case, row in cases[(arm, seed)].items()} for seed in seeds}

    def abs_ef_error(row: dict[str, float]) -> float:
        return abs(row["ef_pred"] - row["ef_reference"])

    def dice_es(row: dict[str, float]) -> float:
        return row["dice_es"]

    print(f"\n{args.videos} videos, {len(next(iter(cases.values())))} test videos, training seeds {seeds}\n")
    print("| arm | Dice ED | Dice ES | EF bias | EF MAE | EDV pred/true | ESV pred/true "
          f"| Δ|EF error| vs {arms[0]} [95% CI] | ΔDice ES [95% CI] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arm in arms:
        rows = [row for seed in seeds for row in cases[(arm, seed)].values()]
        error = np.array([r["ef_pred"] - r["ef_reference"] for r in rows])
        cells = [arm, f"{np.mean([r['dice_ed'] for r in rows]):.3f}", f"{np.mean([r['dice_es'] for r in rows]):.3f}",
                 f"{error.mean():+.1f}", f"{np.abs(error).mean():.1f}",
                 f"{np.median([r['edv_pred'] / r['edv_true'] for r in rows]):.2f}",
                 f"{np.median([r['esv_pred'] / r['esv_true'] for r in rows]):.2f}"]
        if arm == arms[0]:
            cells += ["reference", ""]
        else:
            for metric in (abs_ef_error, dice_es):
                ci = bootstrap_ci(paired_differences(per_seed(arm, metric), per_seed(arms[0], metric)))
                cells.append(f"{ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]")
        print("| " + " | ".join(cells) + " |")
    print(f"\nruns: {out}")


if __name__ == "__main__":
    main()
