"""How close each synthetic appearance preset looks to real EchoNet-Dynamic A4C video (issue 10).

    python -m benchmarks.bench_realism [--videos 50] [--seed 0] [--presets easy medium hard realistic]

For each preset: writes --videos videos in EchoNet layout as `echoseg synth` does (default lengths:
64 frames for easy/medium/hard, drawn in 100-250 for realistic), measures them with
`echoseg.data.synthetic.realism` (the same statistics as the shared echo_stats.py that measured the real
reference) and prints one markdown table: the real mean and SD, then z = (ours - real) / real SD per
preset, and for the realistic preset its mean and SD (is the domain randomisation as wide as real
variation?). Also prints the generation + writing time per preset.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cv2

from echoseg.data.synthetic import DIFFICULTIES, iter_dataset, write_echonet
from echoseg.data.synthetic.realism import compare, dataset_statistics, reference_statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=50, help="videos per preset (the reference script measures 50)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--presets", nargs="+", default=list(DIFFICULTIES), choices=DIFFICULTIES)
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)

    rows = {}
    for preset in args.presets:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            write_echonet(folder, iter_dataset(args.videos, args.seed, difficulty=preset))
            made = time.perf_counter() - start
            rows[preset] = {r.statistic: r for r in compare(dataset_statistics(folder, max_videos=args.videos))}
        print(f"{preset}: {args.videos} videos generated and written in {made:.1f} s")
    reference = reference_statistics()
    names = sorted(set.intersection(*(set(r) for r in rows.values())))
    show_spread = "realistic" in rows
    header = ["statistic", "real mean", "real SD"] + [f"z {p}" for p in rows]
    header += ["realistic mean", "realistic SD"] if show_spread else []
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name in names:
        cells = [name, f"{reference[name]['mean']:.3f}", f"{reference[name]['sd']:.3f}"]
        cells += [f"{rows[p][name].z:+.1f}" for p in rows]
        if show_spread:
            cells += [f"{rows['realistic'][name].mean:.3f}", f"{rows['realistic'][name].sd:.3f}"]
        print("| " + " | ".join(cells) + " |")
    worst = {p: max(abs(r.z) for r in rows[p].values()) for p in rows}
    print("\nlargest |z|: " + ", ".join(f"{p} {w:.1f}" for p, w in worst.items()))


if __name__ == "__main__":
    main()
