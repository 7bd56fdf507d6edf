"""ASSC's pooling as exported to ONNX: NCHW slices (export version 1) against (B, H, W, C) slices
(version 2), both run by ONNX Runtime, with PyTorch channels_last beside them for the engine ratio.

    python -m benchmarks.bench_onnx_pooling [--checkpoint W] [--batch-sizes 1,16,64] [--repeats 5] [--threads 2]
                                            [--profile]

Exports the model twice (the old form by swapping the exported summary back to the NCHW slices), checks
both files give the same logits, then times the three engines interleaved (best of --repeats per engine and
batch) on one random batch of windows, so machine load hits all three alike. Prints a Markdown table.
--profile: instead, ONNX Runtime's own per-operator time for both exports at the largest batch (8 runs,
one thread): the shares hold better than frames/s on a loaded machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _nchw_summary(x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Export version 1's form: the separable slices on the NCHW map."""
    from echoseg.models.calibration import _adaptive_max_pool_sliced

    b, c = x.shape[:2]
    pooled = {s: _adaptive_max_pool_sliced(x, s) for s in sizes if s > 1}
    if 1 in sizes:
        pooled[1] = pooled[max(pooled)].amax(dim=(2, 3), keepdim=True)
    return torch.cat([pooled[s].reshape(b, c, s * s) for s in sizes], dim=2)


def _export(model, path: Path, size, old_form: bool) -> None:
    from echoseg.inference.export import export_onnx
    from echoseg.models import calibration

    current = calibration._summary_sliced_channels_last
    if old_form:
        calibration._summary_sliced_channels_last = _nchw_summary
    try:
        export_onnx(model, path, size)
    finally:
        calibration._summary_sliced_channels_last = current


def _profile(sessions: dict, folder: Path, window: int, size, batch: int, runs: int = 8) -> None:
    """Print each export's ms per call and its five costliest operator types (ONNX Runtime's profiler)."""
    import onnxruntime as ort

    feed = {"frames": torch.rand(batch, window, *size).numpy()}
    for name, session in sessions.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(folder / "profile")
        profiled = ort.InferenceSession(session._model_path, options, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            profiled.run(None, feed)
        with open(profiled.end_profiling()) as handle:
            events = json.load(handle)
        per_op = collections.Counter()
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                per_op[event["args"]["op_name"]] += event["dur"]
        total = sum(per_op.values())
        shares = ", ".join(f"{op} {us / total:.1%}" for op, us in per_op.most_common(5))
        print(f"{name}, batch {batch}, 1 thread: {total / runs / 1000:.0f} ms per call; {shares}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="weights (default: the built-in model)")
    parser.add_argument("--batch-sizes", default="1,16,64", help="comma-separated windows per call")
    parser.add_argument("--repeats", type=int, default=5, help="timings per engine and batch; the best is kept")
    parser.add_argument("--threads", type=int, default=2, help="threads for both engines")
    parser.add_argument("--profile", action="store_true", help="per-operator time of both exports (module doc)")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from echoseg.inference.segmenter import load_segmenter, pretrained_path

    torch.set_num_threads(args.threads)
    segmenter = load_segmenter(args.checkpoint or pretrained_path(), device="cpu")
    model, window, size = segmenter.model.eval(), segmenter.window, segmenter.input_size
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for name, old in (("nchw slices (v1)", True), ("nhwc slices (v2)", False)):
            path = Path(tmp) / f"{old}.onnx"
            _export(model, path, size, old)
            sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        if args.profile:
            _profile(sessions, Path(tmp), window, size, max(int(b) for b in args.batch_sizes.split(",")))
            return 0
        model = model.to(memory_format=torch.channels_last)  # PyTorch's fastest CPU form, after the exports
        print(f"| batch | {' | '.join(f'{n} frames/s' for n in sessions)} | torch channels_last frames/s | "
              "v2 / v1 | v2 / torch |")
        print("|---|---|---|---|---|---|")
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            x = torch.rand(batch, window, *size)
            feed = {"frames": x.numpy()}
            outs = [s.run(None, feed)[0] for s in sessions.values()]
            assert np.allclose(outs[0], outs[1], atol=1e-4), "the two exports disagree"
            with torch.inference_mode():
                xc = x.contiguous(memory_format=torch.channels_last)
                runs = {n: (lambda s=s, feed=feed: s.run(None, feed)) for n, s in sessions.items()}
                runs["torch"] = lambda xc=xc: model(xc)
                for run in runs.values():
                    run()  # warm
                best = {n: float("inf") for n in runs}
                for _ in range(args.repeats):  # interleaved: load hits every engine alike
                    for n, run in runs.items():
                        start = time.perf_counter()
                        run()
                        best[n] = min(best[n], time.perf_counter() - start)
            fps = {n: batch / t for n, t in best.items()}
            v1, v2 = fps["nchw slices (v1)"], fps["nhwc slices (v2)"]
            print(f"| {batch} | {v1:.0f} | {v2:.0f} | {fps['torch']:.0f} | {v2 / v1:.2f} | {v2 / fps['torch']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
