"""Markdown tables of `echoseg bench model` (`echoseg.models.benchmark`'s measurements)."""

from __future__ import annotations

from echoseg.models.benchmark import BenchmarkResult


def format_benchmark(result: BenchmarkResult, modes: list[str], size: int, width: float) -> str:
    """Every table and line of a benchmark result, in the order it was measured."""
    parts = [format_model_table(result.models, modes, size, width)]
    if result.assc is not None:
        parts.append(format_assc_table(result.assc))
    if result.ratios is not None:
        parts.append("\nWhole-video time ratios, channels_last, calls alternated (median of 3 pairs): "
                     + ", ".join(f"{name} {value:.2f}" for name, value in result.ratios.items()))
    if result.cpu_preset is not None:
        p = result.cpu_preset
        parts.append(f"\nCPU preset {p['variant']} k={p['window']} width {p['width']} at {p['size']}x{p['size']}: "
                     + ", ".join(f"{m} {fps:.1f} frames/s" for m, fps in p["frames_per_s"].items()))
    return "\n".join(parts)


def format_model_table(rows, modes, size, width) -> str:
    head = (f"\nModel sweep at {size}x{size}, width {width}: forward GFLOPs of one window, GFLOPs per frame of "
            "whole-video inference, CPU ms/frame (whole video, BatchNorm folded) and, per mode, the achieved "
            "GFLOP/s as a fraction of the plain-conv ceiling measured alongside (median of adjacent pairs)\n\n")
    cols = ["variant", "k", "params (M)", "GFLOPs fwd", "GFLOPs/frame video"]
    for m in modes:
        cols += [f"ms/frame {m}", f"% ceiling {m}"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r.variant, str(r.k), f"{r.params_m:.1f}", f"{r.gflops:.1f}", f"{r.video_gflops:.1f}"]
        for m in modes:
            if m in r.ms_per_frame:
                cells += [f"{r.ms_per_frame[m]:.1f}", f"{100 * r.ceiling_fraction[m]:.0f}%"]
            else:
                cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def format_assc_table(rows) -> str:
    forms = [k for k in rows[0].ms if k != "conv"]
    cols = ["stage C", "map", "batch", "mode", "ASSC GFLOPs", "plain conv ms"] + [f"{f} ms" for f in forms] + [
        "factored GFLOP/s : plain conv"]
    lines = ["\nASSC per encoder stage: formulations and factored GFLOP/s relative to one plain 3x3 conv "
             "(same shape, same mode)\n", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join([str(r.channels), f"{r.size}x{r.size}", str(r.batch), r.mode,
                                        f"{r.gflops:.2f}", f"{r.ms['conv']:.1f}",
                                        *[f"{r.ms[f]:.1f}" for f in forms], f"{100 * r.fraction_of_conv:.0f}%"]) + " |")
    return "\n".join(lines)
