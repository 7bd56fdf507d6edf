"""Experiment: did training on the GPU move Table 2's few-label comparisons against the mean-teacher baseline?

    python benchmarks/experiments/table2_device_check.py

In the Table 2 campaign the mean-teacher baseline of seeds 2-4 was trained on a lent GPU, most other rows on
the CPU. Seeds 3 and 4 of that baseline (few-label setting) were trained again on the CPU with the same config
and split (benchmarks/table2_runs/device_check/). This prints, from the archived per-video test Dice, each
mean-teacher row minus the baseline with the archived baseline and with the CPU reruns in its place (seeds x
videos 95% CIs, each seed's difference), and the CPU rerun minus the GPU run of the same seed. Results:
benchmarks/ablation_results.md, "Device check".
"""
import json
from pathlib import Path

from echoseg.evaluation.bootstrap import per_seed_text, seed_differences, seed_video_ci

RUNS = Path(__file__).resolve().parents[1] / "table2_runs"
BASELINE = "baseline_MT_labels0.125"
SEEDS = range(5)
RERUN_SEEDS = (3, 4)


def per_video_dice(setting_dir: Path, row: str, seed: int) -> dict[str, float]:
    return json.loads((setting_dir / row / f"seed{seed}" / "fold0" / "run.json").read_text())["per_video"]["dice"]


def show(label: str, per_seed: dict) -> None:
    ci = seed_video_ci(per_seed)
    print(f"{label:70s} {ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]  per seed {per_seed_text(ci)}")


def main() -> None:
    archived = {s: per_video_dice(RUNS / "few", BASELINE, s) for s in SEEDS}
    on_cpu = dict(archived) | {s: per_video_dice(RUNS / "device_check" / "few", BASELINE, s) for s in RERUN_SEEDS}
    for row in ("unet_labels0.125", "baseline_tce_MT_labels0.125", "baseline_bssf_MT_labels0.125",
                "sscf_MT_labels0.125"):
        values = {s: per_video_dice(RUNS / "few", row, s) for s in SEEDS}
        show(f"{row} − baseline MT (archived: GPU for seeds 2-4)", seed_differences(values, archived))
        show(f"{row} − baseline MT (CPU reruns for seeds 3, 4)", seed_differences(values, on_cpu))
    show("baseline MT: CPU rerun − GPU run, seeds 3 and 4",
         seed_differences({s: on_cpu[s] for s in RERUN_SEEDS}, {s: archived[s] for s in RERUN_SEEDS}))


if __name__ == "__main__":
    main()
