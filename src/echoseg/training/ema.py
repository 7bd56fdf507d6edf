"""Exponential moving average of a model: the mean teacher (eq. 12), parameters AND buffers.

teacher = deepcopy(student) with gradients off; after every optimizer step
    theta'_t = eta * theta'_{t-1} + (1 - eta) * theta_t
for every parameter and, with `average_buffers=True`, every floating-point buffer (BatchNorm
running mean/var) while integer buffers (BatchNorm's num_batches_tracked) are copied. Under DDP
every rank holds identical student parameters after each all-reduced step and the same decay, so
the averaged part of the teacher stays identical across ranks without communication.

`average_buffers=False` leaves the buffers to the teacher's own forward passes (the mean teacher
runs it in train mode, so its BatchNorm running statistics are those of its own weights). Averaged
running statistics do not describe the averaged weights while the weights move quickly: with the
CPU preset (lr 1e-3) an eval-mode teacher with averaged statistics scored validation Dice 0.000
at steps 50-200 while the same weights with re-estimated statistics scored within 0.03 of the
student (benchmarks/bench_teacher.py, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class ModelEMA:
    def __init__(self, student: nn.Module, decay: float = 0.99, warmup: bool = True, average_buffers: bool = True):
        self.decay = decay
        self.warmup = warmup
        self.average_buffers = average_buffers
        self.module = copy.deepcopy(student)
        self.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used for the update after optimizer step `step` (0-based).

        With warmup, min(decay, 1 - 1/(step + 1)): the first updates copy the student, so the
        teacher is not dragged towards its random initialisation for hundreds of steps.
        """
        if not self.warmup:
            return self.decay
        return min(self.decay, 1.0 - 1.0 / (step + 1))

    @torch.no_grad()
    def update(self, student: nn.Module, step: int) -> float:
        """Move the teacher towards `student` (unwrapped, same architecture). Returns the decay used."""
        decay = self.decay_at(step)
        student_state = student.state_dict()
        buffers = {name for name, _ in self.module.named_buffers()}
        for name, teacher_value in self.module.state_dict().items():
            if name in buffers and not self.average_buffers:
                continue
            value = student_state[name].detach()
            if teacher_value.dtype.is_floating_point:
                teacher_value.mul_(decay).add_(value.to(teacher_value.dtype), alpha=1.0 - decay)
            else:
                teacher_value.copy_(value)
        return decay

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
