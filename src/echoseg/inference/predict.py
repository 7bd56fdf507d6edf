"""Predict LV masks, ED/ES per beat and EF per beat for many videos: resumable, sharded, overlapped.

`predict_videos` runs one rank's share of the inputs (input i goes to rank i % world_size), writes
each video's folder (see `echoseg.inference.outputs`), and a per-rank summary; rank 0 merges the
ranks' summaries into `summary.csv` and `errors.csv` (independent jobs without a barrier: the last
rank to finish merges). A video whose folder holds `done.json` is
skipped on a rerun (its stored result still goes into the summary) unless `overwrite=True`.

Decoding the next video runs in a background thread while the model works on the current one
(OpenCV, pydicom's numpy work and torch all release the GIL), and the measurements (areas, disk
volumes, phases) and output files of a video are made in another thread while the next one is
segmented.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from echoseg.data.identity import PREDICT_RUN_RECORD
from echoseg.data.inputs import InputItem, VideoInput, discover_inputs, hashed_name, read_video
from echoseg.data.sector import FRAMINGS, FanCrop
from echoseg.errors import DataError, EchosegError, Interrupted
from echoseg.inference import outputs
from echoseg.inference.phases import Beat, VideoEF, beats_from_volumes, detect_phases, flag_beats, lv_volumes, video_ef
from echoseg.inference.segmenter import Segmenter
from echoseg.inference.views import ModelView
from echoseg.io import atomic_write_text

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["name", "input", "status", "frames", "height", "width", "fps", "spacing_dy_mm", "spacing_dx_mm",
                   "n_beats", "ed_frames", "es_frames", "ef_per_beat", "ef_mean", "edv_mean", "esv_mean", "beats_used",
                   "ef_quality", "fan_crop",
                   "notes"]
ERROR_COLUMNS = ["input", "error"]
RUN_RECORD = PREDICT_RUN_RECORD  # also how predict's input search knows our folders
# Names in OUT that belong to the run, never to a video's folder.
OUT_FILES = frozenset({"summary.csv", "errors.csv", RUN_RECORD, "ranks"})


@dataclass
class VideoPrediction:
    """Everything predicted for one video; arrays at the video's own size.

    masks bool (T, H, W); areas float (T,) in mm^2 (px without spacing); volumes float (T,) in ml
    (px^3 without spacing); beats: ED/ES pairs with EDV, ESV, EF, and why a beat is left out of the
    video's EF (`echoseg.inference.phases.flag_beats`). view: how the frames reached the model (fan
    crop or whole-frame resize), None when not recorded.
    """

    video: VideoInput
    masks: np.ndarray
    areas: np.ndarray
    volumes: np.ndarray
    ed_frames: list[int]
    es_frames: list[int]
    beats: list[Beat]
    view: ModelView | None = None

    @property
    def ef(self) -> VideoEF:
        return video_ef(self.beats)


class PredictInterrupted(Interrupted):
    """Ctrl-C during `predict_videos`: the videos finished so far are complete (their done.json written);
    `report` says what was done. Rerunning the same command resumes."""

    def __init__(self, message: str, report: PredictReport):
        super().__init__(message)
        self.report = report


@dataclass
class PredictReport:
    """What one call of `predict_videos` did.

    seconds: per stage, summed over videos (fan: finding the fan and cutting the frames to it). decode,
    analysis and write run in background threads,
    overlapped with the model; decode_wait is the time the main thread waited for a decoded video; total is wall time.
    """

    rows: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    n_done: int = 0
    n_skipped: int = 0
    frames: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {
        "decode": 0.0, "decode_wait": 0.0, "fan": 0.0, "model": 0.0, "analysis": 0.0, "write": 0.0, "total": 0.0})

    def stage_text(self) -> str:
        """One line of where the time went (for the log): the model's and the wall's frames/s beside each
        stage's seconds, so a user sees whether the network or the measurements and files limit a run."""
        s = self.seconds

        def rate(seconds: float) -> str:
            return f" ({self.frames / seconds:.0f} frames/s)" if self.frames and seconds > 0 else ""

        return (f"time per stage, summed over videos: model {s['model']:.1f} s{rate(s['model'])}, "
                f"fan crop {s['fan']:.1f} s, decode {s['decode']:.1f} s, analysis {s['analysis']:.1f} s, "
                f"writing {s['write']:.1f} s; wall {s['total']:.1f} s{rate(s['total'])} (decode, analysis "
                "and writing run in background threads beside the model)")


def compile_model(model: nn.Module) -> nn.Module:
    """torch.compile the parts `predict_video_probs` calls: `encode_frames`/`decode_window` when the
    network has them (the per-frame feature path bypasses forward), else forward. Same object back."""
    parts = ["encode_frames", "decode_window"] if model.splits_frames else ["forward"]
    for name in parts:
        setattr(model, name, torch.compile(getattr(model, name)))
    return model


MIN_FRAMES_FOR_PHASES = 3  # a peak needs a frame on either side


def analyse(video: VideoInput, masks: np.ndarray, view: ModelView | None = None) -> VideoPrediction:
    """Areas, disk volumes, ED/ES for every beat (from the area curve) and EF per beat; masks are on the
    video's own frames (a fan crop maps them back), so the file's spacing applies as it is."""
    spacing = video.spacing_mm
    pixel_area = spacing[0] * spacing[1] if spacing else 1.0
    areas = masks.reshape(len(masks), -1).sum(axis=1).astype(float) * pixel_area
    # Volumes do not depend on where the LV sits: measure inside the masks' joint bounding box (on a
    # 1024x768 scanner export about 6 times faster than over the whole canvas, same values).
    rows, cols = np.flatnonzero(masks.any(axis=(0, 2))), np.flatnonzero(masks.any(axis=(0, 1)))
    box = masks[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if rows.size else masks
    volumes = lv_volumes(box, spacing)
    phases = detect_phases(areas, video.fps)
    beats = flag_beats(beats_from_volumes(phases, volumes), video.fps)
    if not beats:
        n = len(masks)
        why = f"too few frames ({n})" if n < MIN_FRAMES_FOR_PHASES else f"no complete ED->ES beat in {n} frames"
        video.notes.append(f"{why}: no ED/ES or EF")
    return VideoPrediction(video, masks, areas, volumes, phases.ed_frames, phases.es_frames, beats, view)


def summary_row(name: str, pred: VideoPrediction) -> dict:
    v = pred.video
    spacing = v.spacing_mm or (float("nan"), float("nan"))
    used = [b for b in pred.beats if b.counts]
    ef = pred.ef
    return {
        "name": name, "input": str(v.path), "status": "done", "frames": int(v.frames.shape[0]),
        "height": int(v.frames.shape[1]), "width": int(v.frames.shape[2]),
        "fps": _fmt(v.fps), "spacing_dy_mm": _fmt(spacing[0]), "spacing_dx_mm": _fmt(spacing[1]),
        "n_beats": len(pred.beats), "ed_frames": " ".join(map(str, pred.ed_frames)),
        "es_frames": " ".join(map(str, pred.es_frames)),
        "ef_per_beat": " ".join(f"{b.ef:.2f}" for b in pred.beats), "ef_mean": _fmt(ef.ef, 2),
        "edv_mean": _fmt(np.mean([b.edv for b in used]) if used else None),
        "esv_mean": _fmt(np.mean([b.esv for b in used]) if used else None),
        "beats_used": f"{ef.used}/{ef.total}", "ef_quality": ef.quality,
        "fan_crop": _fan_crop_state(pred.view), "notes": "; ".join(v.notes),
    }


def _fan_crop_state(view: ModelView | None) -> str:
    """summary.csv's fan_crop (`ModelView.state`), or empty when unknown."""
    return "" if view is None else view.state


def _fmt(x: float | None, digits: int = 4) -> str:
    return "" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def write_video_outputs(video_dir: Path, pred: VideoPrediction, row: dict, *, overlay: bool = True) -> None:
    """All of one video's files, then `done.json` last (see `echoseg.inference.outputs`)."""
    v = pred.video
    video_dir.mkdir(parents=True, exist_ok=True)
    outputs.write_masks_npz(video_dir / "masks.npz", pred.masks, v.fps, v.spacing_mm)
    if v.spacing_mm:
        outputs.write_masks_nifti(video_dir / "masks.nii.gz", pred.masks, v.spacing_mm, v.fps, v.affine)
    outputs.write_frames_csv(video_dir / "frames.csv", pred.areas, pred.volumes, pred.ed_frames, pred.es_frames,
                             physical=v.spacing_mm is not None)
    outputs.write_beats_csv(video_dir / "beats.csv", pred.beats)
    crop = pred.view.crop if pred.view is not None else None
    if overlay:
        outline = crop.geometry.outline() if crop is not None else None
        bgr = outputs.overlay_frames(v.frames, pred.masks, pred.ed_frames, pred.es_frames, fan_outline=outline)
        outputs.write_overlay(video_dir / "overlay.mp4", bgr, v.fps)
        # The preview of a whole-screen export shows the fan's window: at GIF size the canvas would be illegible.
        factor = outputs.overlay_scale(v.frames.shape)
        outputs.write_gif(video_dir / "preview.gif", bgr if crop is None else _window_of(bgr, crop, factor), v.fps)
    result = dict(row, beats=[b.__dict__ for b in pred.beats])
    if pred.view is not None:
        result["input_view"] = pred.view.record()
    outputs.write_json(video_dir / outputs.RESULT_FILE, result)
    outputs.write_done(video_dir, v.path, datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _window_of(frames: np.ndarray, crop: FanCrop, factor: int = 1) -> np.ndarray:
    """(T, H, W, ...) frames cut to the part of the crop window inside the frame (plus a small margin);
    `factor`: the frames are the video enlarged that many times (the overlay's readable size)."""
    h, w = frames.shape[1:3]
    x0, y0, width, height = (v * factor for v in crop.window)
    margin = max(2, height // 40)
    return frames[:, max(y0 - margin, 0):min(y0 + height + margin, h), max(x0 - margin, 0):min(x0 + width + margin, w)]


@dataclass(frozen=True)
class PredictSettings:
    """How `predict_videos` runs (everything but the inputs, the model and the output folder).

    overwrite: redo videos that already have finished outputs (else they are skipped: reruns resume).
    rank, world_size: this process's shard of the input list (every world_size-th input from rank).
    spacing_mm: (dy, dx) used for videos whose file gives none (files that give one keep theirs).
    overlay: write the overlay video and GIF preview. progress: show a progress bar.
    barrier: called after this rank's work and before rank 0 merges (e.g. torch.distributed.barrier).
    Without one (independent jobs, `--rank/--world-size`), whichever rank finishes last merges: a rank
    merges when every rank's file of this input list is newer than the last summary.csv.
    crop: cut scanner exports to their ultrasound fan (`echoseg.inference.views`; inputs whose fan fills
    the frame are resized whole as before); a video without a fan is a per-video error. framing: "depth"
    (window as tall as the fan, EchoNet's framing) or "whole" (the whole fan).
    """

    overwrite: bool = False
    rank: int = 0
    world_size: int = 1
    spacing_mm: tuple[float, float] | None = None
    overlay: bool = True
    progress: bool = True
    barrier: Callable[[], None] | None = None
    crop: bool = True
    framing: str = "depth"

    def __post_init__(self):
        if self.framing not in FRAMINGS:
            raise EchosegError(f"framing must be one of {FRAMINGS}, got {self.framing!r}")


def predict_videos(inputs: list[str | Path] | list[InputItem], segmenter: Segmenter, out_dir: str | Path,
                   settings: PredictSettings | None = None) -> PredictReport:
    """Segment this rank's share of `inputs` into `out_dir` and (rank 0) write summary.csv / errors.csv.

    inputs: paths (files, folders, FileList.csv; expanded by `discover_inputs`) or InputItems.
    segmenter: the model, its input size, device, precision and mask rule (`load_segmenter`).
    settings: `PredictSettings` (default: one process, overlays, progress bar, fan cropping).
    Returns this rank's PredictReport (rows of done and skipped videos, errors, timings).
    """
    settings = settings or PredictSettings()
    started = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = inputs if inputs and isinstance(inputs[0], InputItem) else \
        discover_inputs(inputs, exclude=[out_dir], reserved=OUT_FILES)
    if not items:
        raise EchosegError(f"{', '.join(map(str, inputs)) or 'no inputs'}: no video to predict on (looked for "
                           "video, DICOM, NIfTI and MetaImage files, and EchoNet FileList.csv)")
    mine = [item for i, item in enumerate(items) if i % settings.world_size == settings.rank]
    report = PredictReport()
    todo = _videos_to_do(mine, out_dir, settings.overwrite, report)
    interrupted = _segment_videos(todo, segmenter, out_dir, settings, report, started)
    report.seconds["total"] = time.time() - started
    order = {str(item.path): i for i, item in enumerate(items)}
    report.rows.sort(key=lambda r: order.get(r["input"], len(order)))
    if interrupted:
        if settings.world_size == 1:
            write_summary(out_dir, report.rows, report.errors)
        raise PredictInterrupted(
            f"stopped after {report.n_done + report.n_skipped} of {len(mine)} videos; the finished ones are in "
            f"{out_dir}" + (" (summary.csv lists them)" if settings.world_size == 1 else ""), report)
    _write_summaries(out_dir, items, order, report, settings, started)
    return report


def _videos_to_do(mine: list[InputItem], out_dir: Path, overwrite: bool, report: PredictReport) -> list[InputItem]:
    """The inputs still to segment; finished ones (unless `overwrite`) become "skipped" rows of `report`."""
    todo = []
    for item in mine:
        try:
            item = _own_folder(out_dir, item)
        except DataError as exc:
            _record_error(report, item, exc)
            continue
        stored = None if overwrite else outputs.read_finished(out_dir / item.name, item.path)
        if stored is not None:
            row = {k: stored.get(k, "") for k in SUMMARY_COLUMNS}
            report.rows.append(row | {"name": item.name, "input": str(item.path), "status": "skipped"})
            report.n_skipped += 1
        else:
            try:
                _ready_to_write(out_dir / item.name)
            except OSError as exc:  # this video's folder only: the others still go on
                _record_error(report, item, DataError(item.path, f"cannot write its outputs in {out_dir / item.name}: "
                                                                 f"{exc.strerror or exc}"))
                continue
            todo.append(item)
    return todo


def _ready_to_write(video_dir: Path) -> None:
    """Clear an earlier attempt's files from a video's folder, which must be a folder (or not exist yet)."""
    if video_dir.exists() and not video_dir.is_dir():
        raise NotADirectoryError(20, "a file of that name is in the way", str(video_dir))
    outputs.clear_outputs(video_dir)


def _segment_videos(todo: list[InputItem], segmenter: Segmenter, out_dir: Path, settings: PredictSettings,
                    report: PredictReport, started: float) -> bool:
    """Decode ahead, segment and hand each video's analysis and files to a writer thread, so the model
    runs on the next video meanwhile. True when Ctrl-C stopped it (the video in hand is finished)."""
    bar = _progress_bar(len(todo), settings.rank, settings.world_size, enabled=settings.progress)
    notes = _NoteCounter()
    interrupted = False
    decoded = _decode_ahead(todo)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="echoseg-write") as writer:
        pending: Future | None = None
        try:
            for item, video, error, decode_s, wait_s in decoded:
                report.seconds["decode"] += decode_s
                report.seconds["decode_wait"] += wait_s
                segmented = _segment_one(item, video, error, segmenter, settings, report, notes)
                bar.update(1)
                if segmented is None:
                    continue
                if pending is not None:
                    finished, pending = pending, None
                    _finish_write(finished, report)
                # Measurements and files are numpy/OpenCV/zlib work: done while the model runs on the next video.
                pending = writer.submit(_analyse_and_write, out_dir / item.name, video, *segmented, settings.overlay,
                                        item)
                report.frames += int(video.frames.shape[0])
                bar.set_postfix(frames_s=f"{report.frames / max(time.time() - started, 1e-9):.1f}")
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C: finish writing the video in hand, then stop
        finally:
            decoded.close()
        if pending is not None:
            try:
                _finish_write(pending, report)
            except KeyboardInterrupt:
                interrupted = True
    bar.close()
    if notes.count > 1:
        log.info("%d videos resized or cut to the fan for the model (notes in summary.csv)", notes.count)
    return interrupted


class _NoteCounter:
    """Says the first video's view note once (a line per video would bury the progress bar)."""

    def __init__(self):
        self.count = 0

    def say(self, path: Path, note: str) -> None:
        self.count += 1
        log.log(logging.INFO if self.count == 1 else logging.DEBUG, "%s: %s%s", path, note,
                " (each video's is in summary.csv)" if self.count == 1 else "")


def _segment_one(item: InputItem, video: VideoInput | None, error: DataError | None, segmenter: Segmenter,
                 settings: PredictSettings, report: PredictReport,
                 notes: _NoteCounter) -> tuple[np.ndarray, ModelView] | None:
    """(masks, view) of one decoded video, or None with the error recorded in `report`."""
    if error is not None:
        _record_error(report, item, error)
        return None
    try:
        if video.spacing_mm is None and settings.spacing_mm is not None:
            video.spacing_mm = tuple(settings.spacing_mm)
        t0 = time.perf_counter()
        view = segmenter.view(video.frames, crop=settings.crop, framing=settings.framing, region=video.region,
                              path=str(video.path))
        if view.note:
            video.notes.append(view.note)
            notes.say(video.path, view.note)
        t1 = time.perf_counter()
        masks = segmenter.segment_view(view)
        report.seconds["fan"] += t1 - t0
        report.seconds["model"] += time.perf_counter() - t1
    except DataError as exc:
        _record_error(report, item, exc)
        return None
    return masks, view


def _write_summaries(out_dir: Path, items: list[InputItem], order: dict[str, int], report: PredictReport,
                     settings: PredictSettings, started: float) -> None:
    """summary.csv and errors.csv: written directly by a single process; a rank writes its own file and
    rank 0 (after the barrier) or the last rank to finish (without one) merges them."""
    if settings.world_size == 1:
        write_summary(out_dir, report.rows, report.errors)
        return
    fingerprint = _fingerprint(items, settings.world_size)
    _write_rank_file(out_dir, settings.rank, report, started, fingerprint)
    if settings.barrier is not None:
        settings.barrier()
        if settings.rank == 0 and not _merge_rank_files(out_dir, settings.world_size, order, fingerprint,
                                                        require_fresh=False):
            raise DataError(out_dir / "ranks", "a rank's summary is missing after the barrier; summary not merged")
    else:
        _merge_rank_files(out_dir, settings.world_size, order, fingerprint, require_fresh=True)


def _own_folder(out_dir: Path, item: InputItem) -> InputItem:
    """`item`, or the same input under its hashed name when OUT/<name> holds the finished results of
    another input (an earlier run on other files of the same name): those are never taken for this
    input's, nor overwritten."""
    done = outputs.read_done(out_dir / item.name)
    if done is None or outputs.made_from(done, item.path):
        return item
    other = replace(item, name=hashed_name(item.name, item.path))
    log.info("%s: %s holds the results of %s; writing to %s", item.path, out_dir / item.name, done.get("input"),
             out_dir / other.name)
    done = outputs.read_done(out_dir / other.name)
    if done is not None and not outputs.made_from(done, item.path):
        raise DataError(out_dir / other.name, f"holds the results of {done.get('input')}, not of {item.path}")
    return other


def _decode_ahead(todo: list[InputItem]) -> Iterator[tuple]:
    """Yield (item, video or None, error or None, decode seconds, seconds waited), decoding the next meanwhile."""
    def load(item: InputItem):
        t0 = time.perf_counter()
        try:
            return read_video(item.path, fps_hint=item.fps_hint), None, time.perf_counter() - t0
        except DataError as exc:
            return None, exc, time.perf_counter() - t0
        except Exception as exc:  # a reader bug or a library error must not stop the batch
            return None, DataError(item.path, f"{type(exc).__name__}: {exc}"), time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="echoseg-decode") as pool:
        futures = [pool.submit(load, item) for item in todo[:1]]
        for i, item in enumerate(todo):
            if i + 1 < len(todo):
                futures.append(pool.submit(load, todo[i + 1]))
            t0 = time.perf_counter()
            video, error, decode_s = futures[i].result()
            futures[i] = None  # drop the decoded frames as soon as they are consumed
            yield item, video, error, decode_s, time.perf_counter() - t0


def _analyse_and_write(video_dir: Path, video: VideoInput, masks: np.ndarray, view: ModelView, overlay: bool,
                       item: InputItem) -> tuple:
    """(summary row or None, error or None, {stage: seconds}, item) for one segmented video."""
    seconds = {}
    t0 = time.perf_counter()
    try:
        pred = analyse(video, masks, view)
        row = summary_row(item.name, pred)
        seconds["analysis"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        write_video_outputs(video_dir, pred, row, overlay=overlay)
        seconds["write"] = time.perf_counter() - t1
        return row, None, seconds, item
    except (OSError, RuntimeError, ValueError) as exc:
        return None, DataError(item.path, f"measuring or writing outputs failed: {exc}"), seconds, item


def _finish_write(pending: Future, report: PredictReport) -> None:
    row, error, seconds, item = pending.result()
    for stage, value in seconds.items():
        report.seconds[stage] += value
    if error is None:
        report.rows.append(row)
        report.n_done += 1
    else:
        _record_error(report, item, error)


def _record_error(report: PredictReport, item: InputItem, error: Exception) -> None:
    log.error("%s", error)
    problem = error.problem if isinstance(error, DataError) else str(error)
    report.errors.append({"input": str(item.path), "error": problem, "name": item.name})


def _progress_bar(total: int, rank: int, world_size: int, enabled: bool):
    from tqdm import tqdm

    desc = "predict" if world_size == 1 else f"predict rank {rank}"
    return tqdm(total=total, unit="video", desc=desc, position=rank, disable=not enabled, dynamic_ncols=True)


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_summary(out_dir: Path, rows: list[dict], errors: list[dict]) -> None:
    """summary.csv (one row a video: done or skipped) and errors.csv (input, error), atomically."""
    atomic_write_text(out_dir / "summary.csv", _csv_text(SUMMARY_COLUMNS, rows))
    atomic_write_text(out_dir / "errors.csv", _csv_text(ERROR_COLUMNS, errors))


def _rank_file(out_dir: Path, rank: int) -> Path:
    return out_dir / "ranks" / f"rank{rank}.json"


def _fingerprint(items: list[InputItem], world_size: int) -> str:
    """Identifies the sharded job (same inputs, same number of ranks) across its independent ranks."""
    text = "\n".join(f"{item.name}\t{item.path}" for item in items) + f"\n{world_size}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _write_rank_file(out_dir: Path, rank: int, report: PredictReport, started: float, fingerprint: str) -> None:
    data = {"rank": rank, "started": started, "fingerprint": fingerprint, "rows": report.rows,
            "errors": report.errors}
    atomic_write_text(_rank_file(out_dir, rank), json.dumps(data))


def _merge_rank_files(out_dir: Path, world_size: int, order: dict[str, int], fingerprint: str,
                      require_fresh: bool) -> bool:
    """Write summary.csv/errors.csv from all ranks' files; False (nothing written) if one is missing.

    require_fresh: every rank file must come from a run that started after the current summary.csv
    was written (else it is a previous run's, and a rank of this run is still working).
    """
    summary = out_dir / "summary.csv"
    summary_time = summary.stat().st_mtime if summary.is_file() else float("-inf")
    rows, errors = [], []
    for rank in range(world_size):
        try:
            data = json.loads(_rank_file(out_dir, rank).read_text())
        except (OSError, ValueError):
            return False
        if data.get("fingerprint") != fingerprint or (require_fresh and data["started"] <= summary_time):
            return False
        rows.extend(data["rows"])
        errors.extend(data["errors"])
    rows.sort(key=lambda r: order.get(r["input"], len(order)))
    write_summary(out_dir, rows, errors)
    return True


# ----------------------------------------------------------------------------------- run.json

# Settings that change the masks: finished videos made with other values must not be resumed.
# Neither engine nor precision is one of them: torch and onnxruntime agree to float rounding, and bf16 and
# int8 are offered as equivalents of fp32 (int8 only after its masks matched fp32's at Dice >= 0.99).
RESULT_SETTINGS = ("checkpoint_sha", "model", "model_cfg", "input_size", "threshold", "mask_rule", "spacing_mm",
                   "crop", "framing")


def start_run(out_dir: str | Path, segmenter: Segmenter, settings: dict, *, overwrite: bool = False,
              write: bool = True) -> dict:
    """Check that `out_dir` holds no results made with other weights or mask settings (unless
    `overwrite`), then record in OUT/run.json what makes this run's masks: the segmenter (checkpoint,
    its hash, model, input size, mask rule) and the command's `settings` (JSON-ready). Only one
    process should `write` (rank 0). Returns the record."""
    from echoseg import __version__

    path = Path(out_dir) / RUN_RECORD
    record = {"echoseg": __version__, **segmenter.describe(),
              "checkpoint_extra": segmenter.weights.extra if segmenter.weights else {}, **settings}
    if not overwrite and path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = {}
        changed = [key for key in RESULT_SETTINGS if key in previous and previous[key] != record.get(key)]
        if changed:
            raise EchosegError(f"{path.parent} holds results made with different {', '.join(changed)}; "
                               "use --overwrite to redo them or choose another --out")
    if write:
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return record
