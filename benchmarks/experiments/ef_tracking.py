"""Experiment: end-systole by tracking the ED contour through the beat instead of segmenting the ES frame.

    python benchmarks/experiments/ef_tracking.py real PREDICT_DIR VIDEOS_DIR FILELIST [--videos N]
    python benchmarks/experiments/ef_tracking.py synthetic [CHECKPOINT|builtin] [--videos 24]

On real video the built-in model's ED masks are about as right on every video while its ES masks are
too small on some and too large on others (benchmarks/RESULTS.md, "It is the ES masks"). This tests a
route around the ES mask: take the model's ED mask of each beat, follow its contour points frame by frame
with dense optical flow (OpenCV's DIS or Farneback) to the beat's ES frame, and measure the ES volume on
the tracked contour, with the same method of disks. ES is either predict's ES frame or the tracked area's
minimum between ED and the next ED. Beats are predict's own (beats.csv, the ones that count); a video's EF
is the mean over its beats. Scores EF against the truth (FileList.csv on real video, the generator's EF on
synthetic) for the model's own EF and each tracking rule, on the same videos. On real video it also scores
the mean of the model's EF and the tracked one (its synthetic bias added back, --tracked-offset) beside two
shrinkage controls (see `_add_combinations`). Nothing is trained; real frames are only read.
"""
import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from echoseg.evaluation.ef import ef_agreement
from echoseg.geometry.disks import monoplane_volume
from echoseg.geometry.masks import clean_mask


def _flow_fn(method: str):
    if method.startswith("dis"):
        preset = {"dis_fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "dis_medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                  "dis_ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST}[method]
        dis = cv2.DISOpticalFlow_create(preset)
        return lambda a, b: dis.calc(a, b, None)
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    raise ValueError(method)


def _contour(mask: np.ndarray) -> np.ndarray | None:
    contours, _ = cv2.findContours(clean_mask(mask).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    return max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float32)  # (n, 2) x, y


def _sample(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear flow at float points (n, 2) -> (n, 2)."""
    map_x = points[:, 0].reshape(-1, 1).astype(np.float32)
    map_y = points[:, 1].reshape(-1, 1).astype(np.float32)
    return cv2.remap(flow, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2)


def _polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return mask.astype(bool)


def track_beat(frames: np.ndarray, ed_mask: np.ndarray, ed: int, stop: int, flow) -> list[np.ndarray]:
    """Masks of the ED contour tracked from frame ed to frame stop (inclusive): [mask at ed, ..., at stop]."""
    points = _contour(ed_mask)
    if points is None or len(points) < 8:
        return []
    shape = frames.shape[1:]
    out = [_polygon_mask(points, shape)]
    for i in range(ed, stop):
        points = points + _sample(flow(frames[i], frames[i + 1]), points)
        points[:, 0] = np.clip(points[:, 0], 0, shape[1] - 1)
        points[:, 1] = np.clip(points[:, 1], 0, shape[0] - 1)
        out.append(_polygon_mask(points, shape))
    return out


def beat_efs(frames: np.ndarray, masks: np.ndarray, beats: list[tuple[int, int, int | None]], flow) -> dict[str, list[float]]:
    """Per beat (ed, es, next_ed or None): EF with ES from the model's ES mask, tracked to predict's ES frame,
    and tracked to the tracked area's minimum."""
    result: dict[str, list[float]] = {"model": [], "tracked, predict's ES frame": [], "tracked, min area": [],
                                      "tracked, min volume": []}
    for ed, es, next_ed in beats:
        stop = min(next_ed if next_ed is not None else es + (es - ed) // 2, len(frames) - 1)
        tracked = track_beat(frames, masks[ed], ed, max(stop, es), flow)
        if not tracked:
            continue
        edv = monoplane_volume(masks[ed])
        if edv <= 0:
            continue
        result["model"].append(100 * (edv - monoplane_volume(masks[es])) / edv)
        result["tracked, predict's ES frame"].append(100 * (edv - monoplane_volume(tracked[es - ed])) / edv)
        areas = [m.sum() for m in tracked]
        result["tracked, min area"].append(100 * (edv - monoplane_volume(tracked[int(np.argmin(areas))])) / edv)
        vols = [monoplane_volume(m) for m in tracked]
        result["tracked, min volume"].append(100 * (edv - min(vols)) / edv)
    return result


def _counted_beats(beats_csv: Path) -> list[tuple[int, int, int | None]]:
    rows = list(csv.DictReader(open(beats_csv)))
    eds = [int(r["ed_frame"]) for r in rows]
    out = []
    for i, r in enumerate(rows):
        if r["excluded"]:
            continue
        out.append((int(r["ed_frame"]), int(r["es_frame"]), eds[i + 1] if i + 1 < len(eds) else None))
    return out


def real(args, flows) -> None:
    from echoseg.data.files import read_video_frames

    truth = {r["FileName"].removesuffix(".avi"): float(r["EF"]) for r in csv.DictReader(open(args.filelist))}
    names = sorted(p.name for p in Path(args.predict_dir).iterdir() if (p / "beats.csv").exists())
    names = names[::max(1, len(names) // args.videos)][:args.videos] if args.videos else names
    table: dict[tuple[str, str], tuple[list, list]] = {}
    for n, name in enumerate(names):
        beats = _counted_beats(Path(args.predict_dir) / name / "beats.csv")
        if not beats or name not in truth:
            continue
        frames = read_video_frames(Path(args.videos_dir) / f"{name}.avi").frames
        masks = np.load(Path(args.predict_dir) / name / "masks.npz")["masks"].astype(bool)
        for method, flow in flows.items():
            for rule, efs in beat_efs(frames, masks, beats, flow).items():
                if efs:
                    pred, tru = table.setdefault((method, rule), ([], []))
                    pred.append(float(np.mean(efs)))
                    tru.append(truth[name])
        print(f"{n + 1}/{len(names)} {name}", flush=True)
    _add_combinations(table, args.tracked_offset)
    _report(table)


def _add_combinations(table, offset: float) -> None:
    """Rows that average the model's EF with the tracked one, and the controls that tell a real gain from
    shrinkage: with a truth as narrow as this sample's (SD 4-6), pulling any estimate towards its mean
    lowers MAE without adding signal; r is blind to that, so a gain must show in r too."""
    for method in {m for m, _ in table}:
        if (method, "model") not in table or (method, "tracked, min volume") not in table:
            continue
        model, truth = (np.array(v) for v in table[(method, "model")])
        tracked = np.array(table[(method, "tracked, min volume")][0]) + offset
        error_r = np.corrcoef(model - truth, tracked - truth)[0, 1]
        print(f"{method}: correlation of the model's and the tracked EF errors {error_r:.2f} over {len(truth)} videos")
        table[(method, f"mean of model and tracked min volume + {offset:g}")] = ((model + tracked) / 2, truth)
        table[(method, "control: model pulled halfway to its mean")] = (model.mean() + (model - model.mean()) / 2, truth)
        table[(method, "control: the model's mean EF for every video")] = (np.full_like(model, model.mean()), truth)


def synthetic(args, flows) -> None:
    import torch

    from echoseg.data.synthetic import generator
    from echoseg.inference.phases import beats_from_volumes, detect_phases, flag_beats, lv_volumes
    from echoseg.inference.segmenter import load_segmenter, pretrained_path

    torch.set_num_threads(2)
    segmenter = load_segmenter(pretrained_path() if args.checkpoint == "builtin" else args.checkpoint, batch_size=64,
                               channels_last=True)
    table: dict[tuple[str, str], tuple[list, list]] = {}
    for index in range(args.videos):
        video = generator.generate_video(20261205 + index, frames=120, difficulty="realistic")
        frames = video.sample.video
        masks = segmenter.segment(frames)
        areas = masks.reshape(len(masks), -1).sum(axis=1).astype(float)
        flagged = flag_beats(beats_from_volumes(detect_phases(areas, video.sample.fps), lv_volumes(masks, None)),
                             video.sample.fps)
        eds = [b.ed for b in flagged]
        beats = [(b.ed, b.es, eds[i + 1] if i + 1 < len(eds) else None) for i, b in enumerate(flagged) if b.counts]
        for method, flow in flows.items():
            for rule, efs in beat_efs(frames, masks, beats, flow).items():
                if efs:
                    pred, tru = table.setdefault((method, rule), ([], []))
                    pred.append(float(np.mean(efs)))
                    tru.append(video.truth.ef)
    _report(table)


def _report(table) -> None:
    print("| flow | ES rule | videos | MAE | bias | SD | r |\n|---|---|---|---|---|---|---|")
    for (method, rule), (pred, tru) in table.items():
        a = ef_agreement(pred, tru)
        print(f"| {method} | {rule} | {a['n']} | {a['mae']:.1f} | {a['bias']:+.1f} | {a['sd_diff']:.1f} | "
              f"{a['pearson_r']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("real")
    r.add_argument("predict_dir")
    r.add_argument("videos_dir")
    r.add_argument("filelist")
    r.add_argument("--videos", type=int, default=0, help="spread this many over the folder (default: all)")
    r.add_argument("--tracked-offset", type=float, default=13.0,
                   help="added to the tracked EF before averaging it with the model's: the tracked rule's bias on "
                        "synthetic video (13.0 for Farneback, minimum volume, built-in r3; the synthetic mode prints it)")
    s = sub.add_parser("synthetic")
    s.add_argument("checkpoint", nargs="?", default="builtin")
    s.add_argument("--videos", type=int, default=24)
    for p in (r, s):
        p.add_argument("--flows", default="dis_medium,farneback", help="dis_ultrafast, dis_fast, dis_medium, farneback")
    args = parser.parse_args()
    flows = {m: _flow_fn(m) for m in args.flows.split(",")}
    (real if args.mode == "real" else synthetic)(args, flows)


if __name__ == "__main__":
    main()
