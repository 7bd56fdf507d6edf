"""The synthetic-pretrained model shipped with echoseg, and the one seeded recipe that makes it.

    python -m echoseg.pretrained.recipe --out runs/pretrained [--install]

Seeded and resumable (rerun with the same --out continues): about 30-40 min on 2 free cores. Writes
OUT/sscf_cpu_synthetic.safetensors and OUT/pretrain_summary.json; --install copies the weights into
the package (src/echoseg/pretrained/), beside this recipe.

1. synthesize `RECIPE["data"]`: realistic-preset videos (lengths drawn 100-250 frames, as EchoNet's),
   native layout with the LV mask on every frame;
2. train the CPU preset's SSCF (width 0.25, 64x64, mean teacher, appearance augmentation) with
   `RECIPE["overrides"]`: every frame's mask supervises (synthetic truth is exact), no flips (the
   orientation of an apical view is a prior worth keeping), 2 torch threads;
3. evaluate the best checkpoint on the held-out test videos (ED/ES and all frames);
4. export its weights in float16 (half the size; float32 again on loading) with the recipe, the
   scores and the note "trained on synthetic data only; for research" in the file's metadata, and with
   `install` copy them to the package (`echoseg/pretrained/`), where `echoseg predict` finds its
   default model (`echoseg.inference.segmenter.pretrained_path`).

Nothing here is tuned on real data; the model has never seen a real echo. It is a starting point for
`echoseg train --init` on real data, and a default that lets `echoseg predict` run out of the box.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoseg.data.synthetic.scene import REALISTIC_REVISION
from echoseg.inference.segmenter import PRETRAINED_NOTE, pretrained_path

log = logging.getLogger(__name__)

# Everything that decides the shipped weights. The shipped file records it (extra["recipe"]) and a
# test checks that the two agree, so the file in the package is the one this recipe makes.
RECIPE: dict[str, Any] = {
    "data": {"difficulty": "realistic", "revision": REALISTIC_REVISION, "videos": 200, "seed": 20261128,
             "size": 112, "splits": [0.8, 0.1, 0.1], "layout": "synthetic"},
    "config": "cpu",
    "overrides": ["data.use_all_frame_labels=true", "data.num_workers=0", "optim.steps=2500",
                  "data.max_val_cases=6", "runtime.threads=2", "runtime.seed=0", "runtime.val_interval=400",
                  "runtime.log_interval=50",
                  # No flips: every apical four-chamber video shows the heart one way up (EchoNet's convention,
                  # the LV right of the septum); trained with flips, the model also segments mirror-image
                  # chambers on real video (benchmarks/RESULTS.md, "Real EchoNet-Dynamic video").
                  "augment.hflip=0", "augment.vflip=0", "augment.transpose=0"],
    "export_dtype": "float16",
}


@dataclass
class PretrainResult:
    weights: Path  # the exported float16 file
    installed: Path | None  # where it was copied in the package, if asked
    summary: dict[str, Any]  # scores and times, also in OUT/pretrain_summary.json


def make_pretrained(out: str | Path, *, install: bool = False, progress: bool = True) -> PretrainResult:
    """Run the recipe into `out` (data/, train/, evaluation and the exported weights). Reruns resume."""
    import torch

    from echoseg.data.readers import open_dataset
    from echoseg.data.synthetic import iter_dataset, write_synthetic
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.inference.segmenter import load_segmenter
    from echoseg.models.checkpoint import load_model, save_model
    from echoseg.training.api import train
    from echoseg.training.config import resolve_config
    from echoseg.training.run_folder import RunFolder

    out = Path(out)
    data = RECIPE["data"]
    data_root = out / "data"
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    if not (data_root / "cases.csv").is_file():
        log.info("pretrain: synthesizing %d %s videos", data["videos"], data["difficulty"])
        write_synthetic(data_root, iter_dataset(data["videos"], data["seed"], size=data["size"],
                                                difficulty=data["difficulty"], split_fractions=data["splits"]))
    seconds["synthesize"] = round(time.perf_counter() - clock, 1)

    clock = time.perf_counter()
    config = resolve_config(RECIPE["config"], RECIPE["overrides"])
    run = RunFolder(out / "train")
    result = train(config, data_root, "synthetic", run.path, resume=run.can_resume(), progress=progress)
    seconds["train"] = round(time.perf_counter() - clock, 1)
    if result.best_checkpoint is None:
        raise RuntimeError(f"{run.path}: training produced no best checkpoint")

    clock = time.perf_counter()
    model, info = load_model(result.best_checkpoint)
    export = out / "sscf_cpu_synthetic.safetensors"
    extra = {
        "note": PRETRAINED_NOTE, "input_size": info.extra.get("input_size"), "recipe": RECIPE,
        "which": info.extra.get("which"), "step": info.extra.get("step"), "val_dice": info.extra.get("val_dice"),
        "source_sha256": info.sha256,
    }
    if "mask_rule" in info.extra:  # the rule training chose the checkpoint with travels with the export
        extra["mask_rule"] = info.extra["mask_rule"]
    save_model(export, model.to(torch.float16), info.model, info.model_cfg, extra)
    # Score the exported file itself (float16 weights, float32 compute), as `echoseg predict` will use it.
    evaluation = evaluate_model(load_segmenter(export), open_dataset(data_root, "synthetic"), split="test",
                                all_frames=True, progress=progress)
    seconds["evaluate"] = round(time.perf_counter() - clock, 1)
    groups, ef = evaluation.summary.get("groups", {}), evaluation.summary.get("ef", {}).get("monoplane", {})
    summary = {
        "weights": str(export), "steps": result.steps, "best": result.best_which, "best_step": result.best_step,
        "val_dice": result.best_dice, "test_videos": evaluation.summary["run"]["evaluated"],
        "test_dice_ed_es": groups.get("ED+ES", {}).get("dice_mean", {}).get("mean"),
        "test_dice_all_frames": groups.get("all_frames", {}).get("dice_mean", {}).get("mean"),
        "test_ef_mae": ef.get("pred_vs_reference", {}).get("mae"), "seconds": seconds,
        "size_bytes": export.stat().st_size,
    }
    (out / "pretrain_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    installed = None
    if install:
        installed = pretrained_path(must_exist=False)
        installed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export, installed)
    return PretrainResult(weights=export, installed=installed, summary=summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Make the synthetic-pretrained model `echoseg predict` uses by "
                                     "default (trained on synthetic data only; for research).")
    parser.add_argument("--out", default="runs/pretrained", help="working folder (data, run, exported weights)")
    parser.add_argument("--install", action="store_true", help="copy the weights into the package (src/echoseg/pretrained/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    result = make_pretrained(args.out, install=args.install, progress=not args.no_progress)
    print(json.dumps(result.summary, indent=2))
    print(f"weights: {result.weights}" + (f"; installed as {result.installed}" if result.installed else ""))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
