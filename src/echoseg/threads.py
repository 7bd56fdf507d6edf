"""How many CPU threads inference uses, and how OpenMP's idle threads wait.

Measured on the shared 2-core machine under load (benchmarks/bench_predict.py --matrix,
benchmarks/RESULTS.md): with libgomp's default wait policy an idle OpenMP thread spins before it
sleeps; when other programs hold the cores, the thread that should be computing waits for the
spinning one, and two threads ran at 7% of the best setting (one video took 21 s instead of 1.3 s).
With idle threads sleeping, two threads were the best setting there too (one thread: about half as
fast: the scheduler gives each runnable thread its share). So:

- `configure_openmp()`: OMP_WAIT_POLICY=PASSIVE unless the user set it. OpenMP reads it when torch
  starts, so the CLI calls this before anything imports torch.
- `default_threads()`: every core this process may use.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def configure_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning (a user's own OMP_WAIT_POLICY wins).
    Only takes effect when called before torch is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_threads() -> int:
    """Threads for inference when the user gave none: the cores this process may run on (its CPU
    affinity: a container's or taskset's share, not the whole machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def usable_threads(requested: int | None, setting: str = "--threads") -> int:
    """`requested` threads (None or 0: `default_threads()`), capped at the usable cores with a warning naming
    `setting`: more threads than cores only make them wait for each other (10000 threads on 2 cores: 263 s
    for 64 frames instead of 1 s)."""
    cores = default_threads()
    if not requested:
        return cores
    if requested > cores:
        log.warning("%s %d is more than the %d core(s) this process may use: using %d", setting, requested, cores,
                    cores)
        return cores
    return requested
