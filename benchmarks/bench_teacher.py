"""Why the EMA teacher lags the student: validation Dice of the teacher under controlled variants.

    OMP_NUM_THREADS=1 python -m benchmarks.bench_teacher DATA --format echonet \
        --steps 300 --val-every 50 --set optim.lr=1e-3 --out /tmp/teacher_lr1e-3

Trains the CPU preset's mean teacher (sscf, width 0.25, 64x64) and, at every validation, scores
(per-image Dice, threshold 0.5, the validation windows):
- student: the student in eval mode (its own BatchNorm running statistics);
- teacher: the EMA teacher in eval mode with its EMA'd BatchNorm statistics (what the trainer scores);
- teacher_student_bn: the teacher's weights with the student's BatchNorm statistics;
- teacher_recal: the teacher's weights with BatchNorm statistics re-estimated on `--recal-batches`
  training batches (cumulative average, no weight change).
If teacher_recal is close to the student while teacher is not, the EMA'd running statistics, not
the averaged weights, are what is wrong. Prints one markdown row per validation; writes
OUT/teacher_diagnostics.csv.
"""

from __future__ import annotations

import argparse
import copy
import csv
from pathlib import Path

import torch
import torch.nn as nn

from echoseg.training.api import train
from echoseg.training.config import resolve_config
from echoseg.training.trainer import MeanTeacherTrainer


def recalibrated(model: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """A copy of `model` whose BatchNorm running statistics are the plain average over `batches`."""
    copy_ = copy.deepcopy(model)
    bns = [m for m in copy_.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    copy_.train()
    with torch.no_grad():
        for x in batches:
            copy_(x)
    return copy_.eval()


def with_buffers_of(model: nn.Module, donor: nn.Module) -> nn.Module:
    copy_ = copy.deepcopy(model)
    donor_buffers = dict(donor.named_buffers())
    with torch.no_grad():
        for name, buf in copy_.named_buffers():
            buf.copy_(donor_buffers[name])
    return copy_.eval()


def diagnostic_trainer(recal_batches: int, rows: list[dict]):
    class DiagnosticTrainer(MeanTeacherTrainer):
        @torch.no_grad()
        def validation_step(self):
            scores = super().validation_step()
            teacher = self.ema.module
            batches = [self._input(self.dataset[s]["labeled"]) for s in range(recal_batches)]
            batches += [self._input(self.dataset[s]["student"]) for s in range(recal_batches)]
            scores["teacher_student_bn"] = self._score(with_buffers_of(teacher, self.student))
            scores["teacher_recal"] = self._score(recalibrated(teacher, batches))
            diff = [(t - s).norm() / s.norm().clamp_min(1e-12) for (n, t), s in
                    zip(teacher.named_parameters(), self.student.parameters(), strict=True) if t.ndim > 1]
            rows.append({"step": self.step, **{k: round(v, 4) for k, v in scores.items()},
                         "rel_weight_gap": round(float(torch.stack(diff).mean()), 4)})
            print("| " + " | ".join(str(v) for v in rows[-1].values()) + " |", flush=True)
            return {k: scores[k] for k in ("student", "teacher")}  # model selection as usual

    return DiagnosticTrainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="dataset folder")
    parser.add_argument("--format", default="echonet", help="dataset format (default: echonet)")
    parser.add_argument("--out", required=True, help="run folder (must not hold a run)")
    parser.add_argument("--config", default="cpu", help="preset or YAML (default: cpu)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    parser.add_argument("--val-every", type=int, default=50, help="steps between validations (default: 50)")
    parser.add_argument("--recal-batches", type=int, default=8, help="training batches for teacher_recal")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = parser.parse_args()
    config = resolve_config(args.config, [f"optim.steps={args.steps}", f"runtime.val_interval={args.val_every}",
                                          "runtime.val_at_start=false", "data.num_workers=0", *args.set])
    rows: list[dict] = []
    import echoseg.training.api as api

    api.MeanTeacherTrainer = diagnostic_trainer(args.recal_batches, rows)
    print(f"overrides: {args.set}")
    print("| step | student | teacher | teacher_student_bn | teacher_recal | rel_weight_gap |\n|---|---|---|---|---|---|")
    train(config, args.data, args.format, args.out)
    out = Path(args.out) / "teacher_diagnostics.csv"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
