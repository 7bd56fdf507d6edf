"""Experiment, not a feature: `echoseg predict` on a transformed copy of every frame (test-time augmentation).

    python benchmarks/experiments/predict_tta.py VARIANTS predict VIDEOS --out OUT [predict options]
    python benchmarks/experiments/predict_tta.py score BASE/real_bench.json RUN1/real_bench.json ... [--write OUT.json]

VARIANTS is a comma-separated list of frame transforms applied at the model's input size, after predict's
own preprocessing: `id`; `gamma0.7` (intensity to the power 0.7: brighter mid-greys, faint walls fainter);
`gamma1.4` (darker); `zoom0.9` / `zoom1.1` (content scaled about the frame centre, the probabilities mapped
back); `blur` (Gaussian, sigma 0.7 px: smoother tissue). With one variant predict sees that variant only;
with several the probabilities of each are mapped back to the original frame and averaged before predict's
mask rule, ED/ES and EF (probability averaging). `score` takes the EF of each RUN's real_bench.json (from
`python -m benchmarks.bench_real REAL --out RUN --reuse`), averages each video's EF over the runs that gave
one (EF averaging), and compares that with FileList and, per video, with BASE: |EF error| difference with a
bootstrap CI over videos. `--write` saves BASE's rows with the averaged EF in their place (plausibility is
BASE's) for `python -m benchmarks.real_arms`, whose CIs carry training-seed variance. Results: benchmarks/RESULTS.md (issue 22, "Test-time augmentation").
"""
import json
import math
import sys

import cv2
import numpy as np

from echoseg.training.transforms import SpatialParams, apply_spatial


def forward(name: str, small: np.ndarray) -> np.ndarray:
    """uint8 (T, h, w) -> the transformed uint8 frames."""
    if name == "id":
        return small
    if name.startswith("gamma"):
        lut = (255.0 * (np.arange(256) / 255.0) ** float(name[5:])).round().astype(np.uint8)
        return lut[small]
    if name.startswith("zoom"):
        return apply_spatial(small, None, SpatialParams(scale=float(name[4:])))[0]
    if name == "blur":
        return np.stack([cv2.GaussianBlur(f, (0, 0), 0.7) for f in small])
    raise SystemExit(f"predict_tta: unknown variant {name!r}")


def backward(name: str, probs: np.ndarray) -> np.ndarray:
    """Probabilities of the transformed frames -> the original frames' geometry (the zoom's inverse warp)."""
    if name.startswith("zoom"):
        h, w = probs.shape[1:]
        inverse = cv2.invertAffineTransform(cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, float(name[4:])))
        return np.stack([cv2.warpAffine(p.astype(np.float32), inverse, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
                         for p in probs])
    return probs


class TTAEngine:
    def __init__(self, engine, variants):
        self.engine, self.variants = engine, variants
        self.name, self.precision = engine.name, engine.precision

    def video_probs(self, small):
        return np.mean([backward(v, self.engine.video_probs(forward(v, small))) for v in self.variants], axis=0)

    def describe(self):
        return {**self.engine.describe(), "tta": ",".join(self.variants)}


def run_predict(variants: list[str], argv: list[str]) -> int:
    from echoseg.inference import segmenter as seg

    original = seg.load_segmenter

    def load_with_tta(*args, **kwargs):
        segmenter = original(*args, **kwargs)
        segmenter.engine = TTAEngine(segmenter.engine, variants)
        return segmenter

    seg.load_segmenter = load_with_tta  # predict imports it inside run()
    from echoseg.cli import main

    return main(argv)


def score(base_json: str, run_jsons: list[str], write: str | None = None) -> None:
    from echoseg.evaluation.bootstrap import bootstrap_ci, verdict

    def rows(path):
        return {r["name"]: r for r in json.load(open(path))["videos"]}

    base, runs = rows(base_json), [rows(p) for p in run_jsons]
    averaged, differences = {}, {}
    for name, b in base.items():
        efs = [r[name]["ef_pred"] for r in runs if name in r and math.isfinite(float(r[name]["ef_pred"]))]
        if efs:
            averaged[name] = (float(np.mean(efs)), b["ef_filelist"])
            if math.isfinite(float(b["ef_pred"])):
                differences[name] = abs(averaged[name][0] - b["ef_filelist"]) - abs(float(b["ef_pred"]) - b["ef_filelist"])
    pairs = np.array(list(averaged.values()))
    error = pairs[:, 0] - pairs[:, 1]
    print(f"EF averaged over {len(runs)} runs: {len(pairs)} of {len(base)} videos with an EF; MAE {np.abs(error).mean():.1f}, "
          f"bias {error.mean():+.1f}, SD {error.std(ddof=1):.1f}, r {np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]:.2f}")
    ci = bootstrap_ci(differences)
    print(f"|EF error| minus base: {ci['mean']:+.2f} [{ci['low']:+.2f}, {ci['high']:+.2f}] over {ci['n']} videos: "
          f"{verdict(ci, higher_is_better=False)}")
    if write:
        summary = {"mae": float(np.abs(error).mean()), "bias": float(error.mean()),
                   "plausibility": float(np.mean([b["plausibility"] for b in base.values() if b["status"] == "done"]))}
        videos = [{**b, "ef_pred": averaged[name][0] if name in averaged else float("nan")} for name, b in base.items()]
        with open(write, "w") as f:
            json.dump({"summary": summary, "videos": videos}, f)
        print(f"wrote {write}")


if __name__ == "__main__":
    if sys.argv[1] == "score":
        args = sys.argv[2:]
        write = args.pop(args.index("--write") + 1) if "--write" in args else None
        score(args[0], [a for a in args[1:] if a != "--write"], write)
    else:
        sys.exit(run_predict(sys.argv[1].split(","), sys.argv[2:]))
