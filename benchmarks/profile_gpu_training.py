"""Where a mean-teacher training step spends its time on a GPU (the paper preset at full size).

    python -m benchmarks.profile_gpu_training                   # on cuda, 256x256, width 1.0
    python -m benchmarks.profile_gpu_training --device cpu --size 64 --width 0.125   # plumbing check

Times `train_step` on one fixed batch per AMP mode with cuDNN autotuning off and on, then profiles one
bf16 step with torch.profiler and prints the ops with the most device time and the most CPU time.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.bench_training import build_trainer, step_rate, windows_per_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for amp in ("bf16", "none"):
            for autotune in (False, True):
                torch.backends.cudnn.benchmark = autotune
                overrides = [f"data.input_size=[{args.size},{args.size}]", f"model.settings.width={args.width}",
                             f"runtime.device={args.device}", f"runtime.amp_dtype={amp}", "data.num_workers=0"]
                trainer = build_trainer("paper", 4, Path(tmp) / f"{amp}{autotune}", overrides)
                batch = trainer.dataset[0]
                seconds = windows_per_batch(batch) / step_rate(trainer, args.steps)
                print(f"amp {amp:<5} cudnn.benchmark {autotune!s:<5}: {1000 * seconds:8.1f} ms/step, "
                      f"{windows_per_batch(batch)} windows/step", flush=True)
        torch.backends.cudnn.benchmark = False
        activities = [torch.profiler.ProfilerActivity.CPU]
        if args.device.startswith("cuda"):
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as profile:
            trainer.train_step(batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
        device_key = "self_cuda_time_total" if args.device.startswith("cuda") else "self_cpu_time_total"
        print(profile.key_averages().table(sort_by=device_key, row_limit=20, max_name_column_width=60))
        print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=60))


if __name__ == "__main__":
    main()
