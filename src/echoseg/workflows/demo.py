"""The main job end to end on built-in synthetic data: synthesize, train, evaluate, predict, report.

`echoseg demo --out runs/demo` (and `make demo`) runs it on a laptop CPU in minutes:
1. synthesize an EchoNet-Dynamic-style dataset (the realistic preset), written twice: in EchoNet layout
   (only ED and ES traced, as in the real data: what training sees) and in the native synthetic
   layout (masks on every frame: what all-frame evaluation needs);
2. train the full `sscf` network with mean teacher on the CPU preset from the EchoNet files;
3. evaluate the best checkpoint on the held-out test videos (ED/ES and all frames);
4. predict two test videos from their AVI files as a user would (masks, overlays, ED/ES, EF per beat);
5. write OUT/report.html with the metrics, plots, training curves and the predicted area curves.
The numbers come from the run; nothing here is hard-coded.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echoseg.errors import EchosegError
from echoseg.io import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class DemoSettings:
    out: Path
    videos: int = 48
    frames: int | None = None  # None: drawn per video (realistic: 100-250, as EchoNet-Dynamic; classic: 64)
    size: int = 112
    difficulty: str = "realistic"
    seed: int = 0
    config: str = "cpu"
    overrides: list[str] = field(default_factory=list)
    predict_count: int = 2
    progress: bool = True


@dataclass
class DemoResult:
    report: Path
    headline: dict[str, Any]
    seconds: dict[str, float]


def run_demo(settings: DemoSettings) -> DemoResult:
    from echoseg.data.readers import open_dataset
    from echoseg.data.synthetic import generate_dataset, write_echonet, write_synthetic
    from echoseg.evaluation.evaluate import evaluate_model
    from echoseg.evaluation.report import write_report
    from echoseg.inference.predict import PredictSettings, predict_videos
    from echoseg.inference.segmenter import load_segmenter
    from echoseg.training.api import train
    from echoseg.training.config import resolve_config
    from echoseg.training.run_folder import RunFolder

    # Everything that can be refused is refused before synthesis: a bad --set, a size too big (commands.demo
    # refuses too few videos).
    config = resolve_config(settings.config, settings.overrides)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 1)
        clock = now
        log.info("demo: %s done in %.1f s", name, seconds[name])

    echonet_root, native_root = out / "data" / "echonet", out / "data" / "synthetic"
    _check_same_settings(out, settings)
    if not (echonet_root / "FileList.csv").is_file() or not (native_root / "cases.csv").is_file():
        log.info("demo: synthesizing %d videos (%s frames, %dx%d, %s)", settings.videos, settings.frames or "drawn",
                 settings.size, settings.size, settings.difficulty)
        videos = generate_dataset(settings.videos, settings.seed, frames=settings.frames, size=settings.size,
                                  difficulty=settings.difficulty)
        write_echonet(echonet_root, videos)
        write_synthetic(native_root, videos)
    lap("synthesize")

    run_dir = out / "train"
    run = RunFolder(run_dir)
    result = train(config, echonet_root, "echonet", run_dir, resume=run.can_resume(), progress=settings.progress)
    if result.best_checkpoint is None:
        raise RuntimeError(f"{run_dir}: training produced no best checkpoint (no validation videos?)")
    lap("train")

    segmenter = load_segmenter(result.best_checkpoint)  # the mask rule training chose it with, recorded in the weights
    meta, input_size = segmenter.weights, segmenter.input_size
    evaluation = evaluate_model(segmenter, open_dataset(native_root, "synthetic"), split="test", all_frames=True,
                                progress=settings.progress)
    lap("evaluate")

    # The trainer draws its own curves into the run folder; the report shows that figure.
    figures = {"Training": [("training curves: losses and lambda (left), validation Dice (right)",
                             run.curves)]}
    predict_dir = out / "predict"
    if settings.predict_count:
        test_ids = [r.case_id for r in open_dataset(echonet_root, "echonet").records() if r.split == "test"]
        inputs = [echonet_root / "Videos" / f"{case_id}.avi" for case_id in test_ids[: settings.predict_count]]
        prediction = predict_videos(inputs, segmenter, predict_dir, PredictSettings(progress=settings.progress))
        lap("predict")
        figures["Prediction on test videos (echoseg predict)"] = _prediction_figures(predict_dir, out / "plots")
        predicted = (f"{prediction.n_done} of {len(inputs)} test videos -> {predict_dir} "
                     "(masks, overlays, ED/ES, EF per beat)")
    else:
        predicted = "skipped (--predict 0)"
    headline = _headline(evaluation.summary, result)
    info = {
        "data": f"{settings.videos} synthetic videos ({settings.difficulty}), "
                f"{settings.frames or 'drawn per video (100-250)'} frames at "
                f"{settings.size}x{settings.size}; training sees only the ED/ES tracings (EchoNet layout)",
        "model": f"{meta.model} {meta.model_cfg} input {input_size[0]}x{input_size[1]}, "
                 f"best by validation Dice: {result.best_which} at step {result.best_step}",
        "training": f"{result.steps} steps, preset {settings.config!r}, run folder {run_dir}",
        "predict": predicted,
        "time (s)": ", ".join(f"{k} {v}" for k, v in seconds.items()),
    }
    files = write_report(evaluation, out, title="echoseg demo: SSCF on synthetic echo videos", info=info,
                         extra_sections=figures)
    return DemoResult(report=files["report"], headline=headline, seconds=seconds)


def _check_same_settings(out: Path, settings: DemoSettings) -> None:
    """A rerun into the same folder resumes; with other settings it would mix runs, so it is refused."""
    wanted = {"videos": settings.videos, "frames": settings.frames, "size": settings.size,
              "difficulty": settings.difficulty, "seed": settings.seed, "config": settings.config,
              "overrides": list(settings.overrides)}
    path = out / "demo_settings.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != wanted:
            changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
            raise EchosegError(f"{out} holds a demo run with other settings ({', '.join(changed)}: "
                               f"{[saved.get(k) for k in changed]} there); use another --out or delete it")
    else:
        atomic_write_text(path, json.dumps(wanted, indent=2) + "\n")


def _prediction_figures(predict_dir: Path, plot_dir: Path) -> list[tuple[str, Path]]:
    """Area curves with the detected ED/ES of every predicted video."""
    from echoseg.evaluation.plots import area_curve

    figures = []
    for frames_csv in sorted(predict_dir.glob("*/frames.csv")):
        with open(frames_csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
        area = [float(r["area"]) for r in rows]
        unit = "mm" if rows[0]["area_unit"].startswith("mm") else "px"  # area_curve squares the unit
        ed = [int(r["frame"]) for r in rows if r["is_ed"] in ("1", "True", "true")]
        es = [int(r["frame"]) for r in rows if r["is_es"] in ("1", "True", "true")]
        name = frames_csv.parent.name
        path = area_curve(area, plot_dir / f"predicted_area_{name}.png", ed=ed, es=es, unit=unit,
                          title=f"{name}: predicted LV area, detected ED/ES")
        figures.append((f"{name}: predicted LV area with detected ED (peaks) and ES (troughs)", path))
    return figures


def _headline(summary: dict[str, Any], result: Any) -> dict[str, Any]:
    groups = summary.get("groups", {})
    both = groups.get("ED+ES", {})
    every = groups.get("all_frames", {})
    mono = summary.get("ef", {}).get("monoplane", {})
    return {
        "dice_ed_es_mean": both.get("dice_mean", {}).get("mean"),
        "dice_ed_es_pooled": both.get("dice_pooled", {}).get("value"),
        "dice_all_frames_mean": every.get("dice_mean", {}).get("mean"),
        "hd95_ed_es_mean": both.get("hd95", {}).get("mean"),
        "distance_unit": summary.get("distance_unit"),
        "ef_mae_vs_reference": mono.get("pred_vs_reference", {}).get("mae"),
        "ef_mae_vs_true_masks": mono.get("pred_vs_true_masks", {}).get("mae"),
        "ef_corr_vs_reference": mono.get("pred_vs_reference", {}).get("pearson_r"),
        "best_val_dice": result.best_dice,
        "best_weights": result.best_which,
    }

