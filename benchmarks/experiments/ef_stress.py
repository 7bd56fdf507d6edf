"""Experiment: which change of the synthetic video takes the EF signal away from a model's masks?

    python benchmarks/experiments/ef_stress.py [CHECKPOINT|builtin] [--videos 24] [--frames 120] [--only NAME,...]

On real video the built-in model's masks shrink from ED to ES with no relation to the true EF
(`es_shape.py`), while on our synthetic video its EF follows the truth. This renders the same synthetic
hearts (same seeds, so every variant shows the same hearts and EFs: paired) under variants of the realistic
preset, each one property of the picture or of the anatomy (at the same cavity) changed the way real video
differs or might, or a few such changes together, and scores the model's
EF (predict's own ED/ES, disk volumes and beat rules) against the truth: r, MAE, bias, and Dice at the true
ED/ES frames. A variant under which r collapses names a cue the model relies on that real video may lack;
the recipe should then draw that property more widely. Nothing is trained. Results: benchmarks/RESULTS.md
("What takes the EF signal away on synthetic video", "Anatomy in the stress test").
"""
import argparse
import copy
import dataclasses
from collections.abc import Callable

import cv2
import numpy as np

from echoseg.data.synthetic import generator, geometry, imaging, scene
from echoseg.evaluation.ef import ef_agreement
from echoseg.evaluation.metrics import dice_iou
from echoseg.inference.phases import beats_from_volumes, detect_phases, flag_beats, lv_volumes, video_ef

SEED = 20261205


def _levels(**changes: tuple[float, float]) -> Callable[[], None]:
    def apply() -> None:
        scene.REALISTIC_LEVELS_DB.update(changes)
    return apply


def _preset(**changes) -> Callable[[], None]:
    def apply() -> None:
        imaging.PRESETS["realistic"] = dataclasses.replace(imaging.PRESETS["realistic"], **changes)
    return apply


def _constant(name: str, value) -> Callable[[], None]:
    def apply() -> None:
        setattr(scene, name, value)
    return apply


VARIANTS: dict[str, Callable[[], None]] = {
    "realistic (revision 3)": lambda: None,
    "finer speckle": _preset(psf_depth=(0.6, 1.0), psf_beam=(0.5, 0.8), beams_per_px=1.5, depth_samples_per_px=1.6),
    "coarser blur": _preset(psf_depth=(2.5, 3.5), psf_beam=(2.0, 3.0)),
    "LV walls all faint": _constant("WALL_LOSS_PATCHES", (2.0, 0.0)),
    "septum loses as the free walls": _constant("SEPTAL_LOSS", (1.0, 1.0)),
    "brighter blood": _levels(blood=(-16.0, -8.0)),
    "no specular echoes": _levels(specular=(-60.0, -60.0)),
    "dim annulus and pericardium": _levels(annulus=(2.0, 8.0), pericardium=(4.0, 10.0)),
    "dim annulus": _levels(annulus=(2.0, 8.0)),
    "dim pericardium": _levels(pericardium=(4.0, 10.0)),
    "dense apical haze": _preset(haze_prob=1.0, haze_db=-14.0),
    "fast speckle decorrelation": _preset(decorrelation=(0.4, 0.6)),
    "brighter tissue outside": _levels(tissue=(0.0, 5.0)),
    "bright papillary muscle and chordae": _levels(papillary=(4.0, 10.0), chordae=(-4.0, 2.0)),
}


def _anatomy(**draws: Callable[[geometry.HeartShape, np.random.Generator], object]) -> Callable[[], None]:
    """Redraw HeartShape fields after `draw_shape` (before the EF calibration), from a generator of their own
    seeded by the heart, so the rest of the video's random stream is untouched."""
    def apply() -> None:
        original = generator.draw_shape

        def draw_shape(rng, depth_mm, ef_target, placement):
            shape = original(rng, depth_mm, ef_target, placement)
            own = np.random.default_rng(int(shape.length * 1e6) % 2**32)
            return dataclasses.replace(shape, **{name: draw(shape, own) for name, draw in draws.items()})
        generator.draw_shape = draw_shape
    return apply


ANATOMY = {
    "larger and wider atria": _anatomy(
        la_length=lambda s, g: s.length * g.uniform(0.8, 1.0), la_bulge=lambda s, g: (g.uniform(3, 8), g.uniform(8, 16)),
        ra_length=lambda s, g: s.length * g.uniform(0.7, 0.9), ra_bulge=lambda s, g: (g.uniform(8, 14), g.uniform(2, 6))),
    "wider right ventricle": _anatomy(rv_width=lambda s, g: 2 * s.half_width * g.uniform(0.9, 1.1)),
    "thick systolic walls": _anatomy(thickening=lambda s, g: g.uniform(0.7, 0.9)),
}
VARIANTS.update(ANATOMY)
VARIANTS["all three anatomy changes"] = lambda: [ANATOMY[name]() for name in ANATOMY]
VARIANTS["all of the four that lose most"] = lambda: [VARIANTS[name]() for name in (
    "dim annulus and pericardium", "septum loses as the free walls", "coarser blur", "brighter blood")]
# Changes after the picture is made: (uint8 video (T, H, W)) -> video.
POST: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "JPEG quality 50 per frame": lambda video: _jpeg(video, 50),
    "JPEG quality 25 per frame": lambda video: _jpeg(video, 25),
    "upsampled x4 then shrunk back (area)": lambda video: _resample(video, 4),
}


def _jpeg(video: np.ndarray, quality: int) -> np.ndarray:
    """Each frame through JPEG at `quality`: the block artefacts of EchoNet's lossy AVIs."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    return np.stack([cv2.imdecode(cv2.imencode(".jpg", f, params)[1], cv2.IMREAD_GRAYSCALE) for f in video])


def _resample(video: np.ndarray, factor: int) -> np.ndarray:
    h, w = video.shape[1:]
    return np.stack([cv2.resize(cv2.resize(f, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC), (w, h),
                                interpolation=cv2.INTER_AREA) for f in video])


def score(segmenter, videos: int, frames: int, post: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, float]:
    predicted, truth, dices = [], [], []
    for index in range(videos):
        video = generator.generate_video(SEED + index, frames=frames, difficulty="realistic")
        sample = video.sample
        masks = segmenter.segment(post(sample.video) if post else sample.video)
        areas = masks.reshape(len(masks), -1).sum(axis=1).astype(float)
        beats = beats_from_volumes(detect_phases(areas, sample.fps), lv_volumes(masks, None))
        ef = video_ef(flag_beats(beats, sample.fps)).ef
        frames_scored = [sample.ed, sample.es]
        dices.extend(dice_iou(masks[frames_scored], np.stack([sample.masks[f] for f in frames_scored]))[0])
        if ef is not None and np.isfinite(ef):
            predicted.append(ef)
            truth.append(video.truth.ef)
    agreement = ef_agreement(predicted, truth)
    return {"n": agreement["n"], "r": agreement["pearson_r"], "mae": agreement["mae"], "bias": agreement["bias"],
            "dice": float(np.mean(dices)), "no_ef": videos - len(predicted)}


def main() -> None:
    import torch

    from echoseg.inference.segmenter import load_segmenter, pretrained_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="builtin", help="weights or run folder (default: built-in)")
    parser.add_argument("--videos", type=int, default=24, help="hearts per variant (default: 24)")
    parser.add_argument("--frames", type=int, default=120, help="frames per video (default: 120)")
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    segmenter = load_segmenter(pretrained_path() if args.checkpoint == "builtin" else args.checkpoint, batch_size=64,
                               channels_last=True)
    chosen = [v for v in (*VARIANTS, *POST) if not args.only or v in args.only.split(",")]
    pristine_draw_shape = generator.draw_shape
    pristine = (copy.deepcopy(scene.REALISTIC_LEVELS_DB), imaging.PRESETS["realistic"],
                {name: getattr(scene, name) for name in ("WALL_LOSS_PATCHES", "SEPTAL_LOSS")})
    print("| variant | videos with EF | r | MAE | bias | Dice ED/ES |\n|---|---|---|---|---|---|")
    for name in chosen:
        VARIANTS.get(name, lambda: None)()
        s = score(segmenter, args.videos, args.frames, POST.get(name))
        print(f"| {name} | {s['n']} | {s['r']:+.2f} | {s['mae']:.1f} | {s['bias']:+.1f} | {s['dice']:.3f} |", flush=True)
        scene.REALISTIC_LEVELS_DB.clear()
        scene.REALISTIC_LEVELS_DB.update(copy.deepcopy(pristine[0]))
        imaging.PRESETS["realistic"] = pristine[1]
        for constant, value in pristine[2].items():
            setattr(scene, constant, value)
        generator.draw_shape = pristine_draw_shape


if __name__ == "__main__":
    main()
