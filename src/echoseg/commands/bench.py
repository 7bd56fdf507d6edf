"""`echoseg bench model`: parameters, FLOPs and CPU speed of the registered networks.

Prints markdown tables (model sweep, ASSC formulations, CPU preset) and can save them as JSON.
Timings on a shared machine are noisy; compare the ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

from echoseg.commands._options import positive_float, positive_int
from echoseg.errors import EchosegError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks (model: params, FLOPs, CPU speed)")
    sub = parser.add_subparsers(dest="bench_target", metavar="TARGET")
    model = sub.add_parser("model", help="params, forward GFLOPs and whole-video CPU ms/frame of each variant and k")
    model.add_argument("--size", type=positive_int, default=256, help="square input size in pixels (multiple of 16; paper: 256)")
    model.add_argument("--width", type=positive_float, default=1.0, help="channel width multiplier (1.0 = 64/128/256/512)")
    model.add_argument("--variants", default=None,
                       help="comma-separated registered model names (default: the paper's Table 2 variants, "
                       "unet to sscf)")
    model.add_argument("--k", default="1,3,5,7,9,11", help="comma-separated windows k (odd, 1..11) to count")
    model.add_argument("--time-k", default=None,
                       help="comma-separated windows to time (default: all of --k); the others get params and FLOPs only")
    model.add_argument("--time-variants", default=None,
                       help="comma-separated variants to time (default: all of --variants)")
    model.add_argument("--modes", default="fp32,channels_last,bf16",
                       help="timing modes: fp32 (NCHW), channels_last (fp32 NHWC), bf16 (autocast, NHWC)")
    model.add_argument("--frames", type=positive_int, default=8, help="frames of the random video timed per model")
    model.add_argument("--batch-size", type=positive_int, default=4, help="windows per batch in whole-video inference")
    model.add_argument("--reps", type=positive_int, default=1, help="timed repetitions after one warm-up (best is kept)")
    model.add_argument("--no-assc", action="store_true", help="skip the ASSC formulation table")
    model.add_argument("--no-preset", action="store_true", help="skip the CPU preset frames/s measurement")
    model.add_argument("--no-ratios", action="store_true",
                       help="skip the interleaved k=3 : k=1 time ratios (the paper's Table 5 reports 32 : 12 ms)")
    model.add_argument("--quick", action="store_true",
                       help="smoke run: size 64, width 0.125, k 1,3, 4 frames, small ASSC and preset runs")
    model.add_argument("--threads", type=positive_int, default=None,
                       help="torch CPU threads (default: torch's choice). On a shared machine also try "
                            "OMP_WAIT_POLICY=PASSIVE in the environment")
    model.add_argument("--json", default=None, help="also write all results to this JSON file")
    model.set_defaults(func=run)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EchosegError(f"expected comma-separated integers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import torch

    from echoseg.evaluation.benchmark_tables import format_benchmark
    from echoseg.io import atomic_write_text
    from echoseg.models.benchmark import rows_as_dicts, run_benchmark

    plan = _plan(args)
    if args.threads:
        from echoseg.inference.threads import capped_threads

        torch.set_num_threads(capped_threads(args.threads))

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = datetime.datetime.now(datetime.timezone.utc)
    measured = run_benchmark(plan, log=log)
    result = {
        "date": started.isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"{torch.get_num_threads()} torch threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
                   f"torch {torch.__version__}",
        "command": "echoseg bench model " + " ".join(_model_args(sys.argv[1:])),
        "size": plan.size, "width": plan.width, "frames": plan.frames, "batch_size": plan.batch_size,
        "models": rows_as_dicts(measured.models),
    }
    if measured.assc is not None:
        result["assc"] = rows_as_dicts(measured.assc)
    if measured.ratios is not None:
        result["ratios"] = measured.ratios
    if measured.cpu_preset is not None:
        result["cpu_preset"] = measured.cpu_preset
    print(format_benchmark(measured, plan.modes, plan.size, plan.width))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _plan(args: argparse.Namespace):
    """The checked `BenchmarkPlan` of the command line (--quick: a smoke run's sizes)."""
    from echoseg.models import available_models
    from echoseg.models.benchmark import MODES, BenchmarkPlan
    from echoseg.models.contract import check_spatial, check_window
    from echoseg.models.variants import ABLATION_VARIANTS

    if args.quick:
        args.size, args.width, args.k, args.frames, args.reps = 64, 0.125, "1,3", 4, 1
    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else list(ABLATION_VARIANTS)
    unknown = sorted(set(variants) - set(available_models()))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown:
        raise EchosegError(f"unknown variants {unknown}; valid: {available_models()}")
    if set(modes) - set(MODES):
        raise EchosegError(f"unknown modes {sorted(set(modes) - set(MODES))}; valid: {list(MODES)}")
    windows = _ints(args.k)
    try:
        check_spatial(args.size, args.size)
        for k in windows:
            check_window(k)
    except ValueError as exc:
        raise EchosegError(str(exc)) from None
    return BenchmarkPlan(variants, windows, _ints(args.time_k) if args.time_k else windows,
                         set(args.time_variants.split(",")) if args.time_variants else set(variants),
                         size=args.size, width=args.width, modes=modes, frames=args.frames,
                         batch_size=args.batch_size, reps=args.reps, assc=not args.no_assc,
                         ratios=not args.no_ratios, preset=not args.no_preset, quick=args.quick)


def _model_args(argv: list[str]) -> list[str]:
    """The options after `model` (the same whether run as `echoseg` or as benchmarks/bench_model.py)."""
    return argv[argv.index("model") + 1:] if "model" in argv else argv
