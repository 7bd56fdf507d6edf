"""How many CPU threads inference uses, and how OpenMP's idle threads wait.

Measured on the shared 2-core machine (benchmarks/bench_predict.py --matrix, RESULTS.md): with
libgomp's default wait policy an idle OpenMP thread spins before it sleeps; when another program
holds the other core, the thread that should be computing waits for the spinning one, and a 64-frame
video took 21 s with torch's default of 2 threads instead of 1.3 s with one. Two defaults follow:

- `configure_openmp()`: OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once) unless the user set
  it. OpenMP reads it when torch starts, so the CLI calls this before anything imports torch.
- `default_threads()`: the cores this process may use, less the load other programs put on them
  (the 1-minute load average), at least 1: both cores on a quiet 2-core machine, one on a busy one.
"""

from __future__ import annotations

import os


def configure_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning (a user's own OMP_WAIT_POLICY wins).
    Only takes effect when called before torch is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or taskset's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Threads for inference when the user gave none: the cores not already busy, at least one.

    cores: available cores (default: `available_cores()`); load: runnable processes on the machine,
    the 1-minute load average by default (unknown -> all cores)."""
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cores
    return max(1, min(cores, round(cores - load)))
