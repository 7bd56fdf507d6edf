"""Single process or torchrun DDP: device choice, process group, rank-0-only side effects.

`torchrun --nproc_per_node N -m echoseg train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; we then
initialise the default process group (nccl on CUDA, gloo on CPU) and wrap the student in
DistributedDataParallel. Every rank computes its shard of the global batch (see dataset.py),
gradients are averaged by DDP, so every rank holds identical student parameters after each step
and the EMA teacher, updated locally from them, stays identical too. Only rank 0 validates and
writes files; the others wait at a barrier.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

from echoseg.errors import EchosegError


class DeviceError(EchosegError):
    """A device that is not one, or is not available on this machine."""


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # we created the process group, so we destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_true(self, flag: bool) -> bool:
        """True only if `flag` is True on every rank (e.g. "my loss is finite")."""
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self._collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """`auto` = cuda:LOCAL_RANK when CUDA is available, else cpu; explicit names are honoured, and
    refused with one line (DeviceError) when they are not devices or not available here."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(preference)
    except (RuntimeError, ValueError):
        raise DeviceError(f"device {preference!r} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch was built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise DeviceError(f"device {preference}: CUDA is not available ({why}); use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {preference}: only {torch.cuda.device_count()} CUDA device(s) here")
        torch.cuda.set_device(device)
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {preference}: MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {preference}: echoseg runs on cpu, cuda or mps")
    return device


def env_int(name: str, default: int) -> int:
    """A whole number from the environment variable `name` (torchrun's RANK, WORLD_SIZE, LOCAL_RANK), or
    `default` when unset; anything else is one clear error rather than a traceback."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EchosegError(f"environment variable {name}={value!r} is not a whole number (torchrun sets it; "
                           f"unset it to run a single process)") from None
    if number < 0:
        raise EchosegError(f"environment variable {name}={value!r} is negative (torchrun sets it; unset it to run "
                           "a single process)")
    return number


def setup(device_preference: str = "auto") -> DistContext:
    """Join the torchrun process group when launched by torchrun, else a single-process context."""
    world_size = env_int("WORLD_SIZE", 1)
    local_rank = env_int("LOCAL_RANK", 0)
    device = resolve_device(device_preference, local_rank)
    if world_size <= 1:
        return DistContext(device=device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                       device=device, owns_group=owns)


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DDP-wrap `model` when running distributed (buffers, e.g. BatchNorm stats, broadcast from rank 0)."""
    if not ctx.enabled:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
