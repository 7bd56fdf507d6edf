"""`echoseg bench model`: parameters, FLOPs and CPU speed of the registered networks.
`echoseg bench predict`: frames/s of a checkpoint per inference engine and mode, and predict end to end.

Both print markdown tables and can save them as JSON (to send with an issue). Timings on a shared
machine are noisy; compare the ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

from echoseg.commands._options import non_negative_int, output_file, output_path, positive_float, positive_int
from echoseg.errors import EchosegError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks (model: params, FLOPs, CPU speed)")
    sub = parser.add_subparsers(dest="bench_target", metavar="TARGET")
    model = sub.add_parser("model", help="params, forward GFLOPs and whole-video CPU ms/frame of each variant and k")
    model.add_argument("--size", type=positive_int, default=None,
                       help="square input size in pixels (multiple of 16; default 256, the paper's)")
    model.add_argument("--width", type=positive_float, default=None,
                       help="channel width multiplier (default 1.0 = 64/128/256/512)")
    model.add_argument("--variants", default=None,
                       help="comma-separated registered model names (default: the paper's Table 2 variants, "
                       "unet to sscf)")
    model.add_argument("--k", default=None, help="comma-separated windows k (odd, 1..11) to count (default 1,3,5,7,9,11)")
    model.add_argument("--time-k", default=None,
                       help="comma-separated windows to time (default: all of --k); the others get params and FLOPs only")
    model.add_argument("--time-variants", default=None,
                       help="comma-separated variants to time (default: all of --variants)")
    model.add_argument("--modes", default="fp32,channels_last,bf16",
                       help="timing modes: fp32 (NCHW), channels_last (fp32 NHWC), bf16 (autocast, NHWC)")
    model.add_argument("--frames", type=positive_int, default=None,
                       help="frames of the random video timed per model (default 8)")
    model.add_argument("--batch-size", type=positive_int, default=4, help="windows per batch in whole-video inference")
    model.add_argument("--reps", type=positive_int, default=None,
                       help="timed repetitions after one warm-up (best is kept; default 1)")
    model.add_argument("--no-assc", action="store_true", help="skip the ASSC formulation table")
    model.add_argument("--no-preset", action="store_true", help="skip the CPU preset frames/s measurement")
    model.add_argument("--no-ratios", action="store_true",
                       help="skip the interleaved k=3 : k=1 time ratios (the paper's Table 5 reports 32 : 12 ms)")
    model.add_argument("--quick", action="store_true",
                       help="smoke run: size 64, width 0.125, k 1,3, 4 frames, 1 rep, small ASSC and preset runs "
                       "(--size, --width, --k, --frames and --reps given with it are kept)")
    model.add_argument("--threads", type=positive_int, default=None,
                       help="torch CPU threads (default: torch's choice). On a shared machine also try "
                            "OMP_WAIT_POLICY=PASSIVE in the environment")
    model.add_argument("--json", type=output_path, default=None,
                       help="also write all results to this JSON file (checked before the benchmark runs)")
    model.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")
    model.set_defaults(func=run)
    _register_predict(sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _register_predict(sub) -> None:
    p = sub.add_parser("predict", help="frames/s of a checkpoint per inference engine (torch, onnxruntime, int8) "
                       "and mode, and predict end to end, in one run",
                       description="Time one checkpoint's inference per engine and mode at several batch sizes, "
                       "interleaved in one process, each timing followed by a plain 3x3 conv timing (the same-run "
                       "ceiling); check each mode's masks against PyTorch NCHW; then time `predict` end to end "
                       "per engine on synthetic AVIs.")
    p.add_argument("--checkpoint", default=None, help="weights file or run folder (default: the built-in model)")
    p.add_argument("--modes", default="nchw,channels_last,bf16,fp32,fp32_spinning,int8",
                   help="comma-separated: nchw and channels_last (PyTorch float32), bf16 (PyTorch bfloat16 "
                   "autocast, channels_last: predict --bf16; fast only on CPUs with bfloat16 instructions), "
                   "fp32 (ONNX Runtime), "
                   "fp32_spinning (ONNX Runtime with spin-waiting threads), int8 (ONNX Runtime, statically quantized "
                   "on synthetic video) (default: all)")
    p.add_argument("--batch-sizes", default="1,16,32,64", help="comma-separated windows per forward pass (default 1,16,32,64)")
    p.add_argument("--frames", type=positive_int, default=128, help="frames of the random video each timing runs (default 128)")
    p.add_argument("--reps", type=positive_int, default=3, help="interleaved timed repetitions, best kept (default 3)")
    p.add_argument("--videos", type=non_negative_int, default=6,
                   help="synthetic AVIs (100 frames, 112x112) for the end-to-end predict timing; 0 skips it (default 6)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: every usable core)")
    p.add_argument("--json", type=output_path, default=None,
                   help="also write the results to this JSON file (checked before the benchmark runs)")
    p.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")
    p.set_defaults(func=run_predict_bench)


def run_predict_bench(args: argparse.Namespace) -> int:
    import torch

    from echoseg.inference import benchmark, onnx_cache
    from echoseg.inference.engines import OnnxRuntimeEngine, TorchEngine, import_onnxruntime
    from echoseg.inference.segmenter import load_segmenter, pretrained_path
    from echoseg.io import atomic_write_text
    from echoseg.threads import usable_threads

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    known = ("nchw", "channels_last", "bf16", "fp32", "fp32_spinning", "int8")
    if not modes or set(modes) - set(known):
        raise EchosegError(f"--modes {args.modes}: valid modes are {', '.join(known)}")
    batch_sizes = _ints(args.batch_sizes)
    if not batch_sizes or min(batch_sizes) < 1:
        raise EchosegError(f"--batch-sizes {args.batch_sizes}: give positive integers")
    if args.json:
        output_file(args.json, option="--json", overwrite=args.overwrite, example="bench.json")  # before the run
    torch.set_num_threads(usable_threads(args.threads))
    segmenter = load_segmenter(args.checkpoint or pretrained_path(), device="cpu")
    onnx_paths = {}
    if {"fp32", "fp32_spinning", "int8"} & set(modes):
        import_onnxruntime()
        onnx_paths["fp32"] = onnx_cache.fp32_onnx(segmenter.model, segmenter.weights, segmenter.input_size)
    int8_check = None
    if "int8" in modes:
        calibration = onnx_cache.synthetic_calibration(segmenter.input_size)
        try:
            onnx_paths["int8"], int8_check = onnx_cache.int8_onnx(
                segmenter.model, segmenter.weights, segmenter.input_size, calibration, segmenter.mask_rule,
                threads=torch.get_num_threads())
        except EchosegError as exc:  # not equivalent: still timed, so the report says what it would gain
            print(f"int8: {exc}", file=sys.stderr)
            onnx_paths["int8"] = next(Path(onnx_paths["fp32"]).parent.glob("*.int8.onnx"), None)
            if onnx_paths["int8"] is None:
                modes.remove("int8")
    check_video = onnx_cache.synthetic_calibration(segmenter.input_size, n_videos=1).videos[0]
    print(f"timing {', '.join(modes)} at batch {', '.join(map(str, batch_sizes))} "
          f"({torch.get_num_threads()} threads)...", file=sys.stderr, flush=True)
    rows = benchmark.time_engines(segmenter, modes, batch_sizes, onnx_paths, frames=args.frames, reps=args.reps,
                                  check_video=check_video)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": _machine(torch), "command": "echoseg bench predict " + " ".join(_after(sys.argv[1:], "predict")),
              "checkpoint": str(segmenter.weights.path), "input_size": list(segmenter.input_size),
              "rows": benchmark.rows_as_dicts(rows), "int8_check": int8_check}
    print(benchmark.format_rows(rows))
    if args.videos > 0:
        batch = 32
        engines = {"torch nchw": TorchEngine(segmenter.model, device=torch.device("cpu"), batch_size=batch),
                   "torch channels_last": TorchEngine(segmenter.model, device=torch.device("cpu"), batch_size=batch,
                                                      channels_last=True)}
        if "bf16" in modes:
            engines["torch bf16"] = TorchEngine(segmenter.model, device=torch.device("cpu"), batch_size=batch,
                                                autocast_dtype=torch.bfloat16, channels_last=True)
        if "fp32" in onnx_paths:
            engines["onnxruntime fp32"] = OnnxRuntimeEngine(onnx_paths["fp32"], segmenter.window, batch_size=batch,
                                                            threads=torch.get_num_threads())
        print(f"predict end to end on {args.videos} synthetic videos...", file=sys.stderr, flush=True)
        result["end_to_end_frames_per_s"] = benchmark.end_to_end(segmenter, engines, args.videos, frames=100)
        for name, fps in result["end_to_end_frames_per_s"].items():
            print(f"predict end to end, {name}, batch {batch}: {fps:.0f} frames/s")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _machine(torch) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, torch {torch.__version__}")


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
    if args.json:  # before the benchmark: a bad path must not cost the whole run
        output_file(args.json, option="--json", overwrite=args.overwrite, example="bench.json")
    if args.threads:
        from echoseg.threads import usable_threads

        torch.set_num_threads(usable_threads(args.threads))

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

    _apply_sizes(args)
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


# The sizes of a full run and of --quick's smoke run; options left unset take the run's value.
FULL_SIZES = {"size": 256, "width": 1.0, "k": "1,3,5,7,9,11", "frames": 8, "reps": 1}
QUICK_SIZES = {"size": 64, "width": 0.125, "k": "1,3", "frames": 4, "reps": 1}


def _apply_sizes(args: argparse.Namespace) -> None:
    """Fill the sizes left unset from --quick's or the full run's; a size given on the command line is
    kept, also with --quick (which used to replace it without a word), and said."""
    given = [f"--{name} {getattr(args, name)}" for name in QUICK_SIZES if getattr(args, name) is not None]
    if args.quick and given:
        print(f"--quick: keeping {', '.join(given)} as given", file=sys.stderr)
    for name, value in (QUICK_SIZES if args.quick else FULL_SIZES).items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def _model_args(argv: list[str]) -> list[str]:
    """The options after `model` (the same whether run as `echoseg` or as benchmarks/bench_model.py)."""
    return _after(argv, "model")


def _after(argv: list[str], target: str) -> list[str]:
    return argv[argv.index(target) + 1:] if target in argv else argv
