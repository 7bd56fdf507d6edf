"""Evaluate a segmentation model on a dataset: per-frame metrics, EF agreement, worst cases.

For each case of the split: load the `EchoSample`, segment every frame with the `Segmenter` (the
same resizing, sliding window and mask rule `predict` uses), and feed `SegmentationMetrics` with
the annotated ED/ES frames and, when the source has masks on every frame (synthetic, CAMUS
half-sequence), with all of them. EF comes three
ways: from the predicted masks, from the ground-truth masks (both by the same method of disks) and
from the dataset's reference table. CAMUS patients with both 2CH and 4CH views also get biplane
Simpson EF. A case that fails (unreadable file, bad shape) is logged and listed, the rest go on.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from echoseg.data.readers.base import Reader
from echoseg.data.schema import EchoSample
from echoseg.data.screening import listing_left_out, sample_left_out_reason
from echoseg.errors import EchosegError
from echoseg.evaluation.ef import ef_agreement
from echoseg.evaluation.metrics import FrameRecord, SegmentationMetrics
from echoseg.geometry.masks import MaskRule
from echoseg.geometry.volumes import ViewDisks, biplane_ef, ef_from_masks, view_disks
from echoseg.inference.segmenter import Segmenter

log = logging.getLogger(__name__)

EF_METHOD = "monoplane method of disks (20 disks) on the ED and ES masks"


@dataclass
class CaseResult:
    """What one evaluated video gives: areas over time, Dice per frame, EF three ways.

    area_pred: (T,) predicted LV area of every frame; area_true / dice: {frame: value} for the
    evaluated frames. Areas in unit^2 (mm^2 with spacing, else px^2). Volumes in volume_unit.
    disks: biplane inputs {"pred_ED", "pred_ES", "true_ED", "true_ES"} for CAMUS 2CH/4CH views.
    """

    case_id: str
    patient_id: str
    view: str
    split: str | None
    n_frames: int
    ed: int | None
    es: int | None
    unit: str
    fps: float | None
    area_pred: np.ndarray
    area_true: dict[int, float]
    dice: dict[int, float]
    ef_pred: float = float("nan")
    ef_true: float = float("nan")
    ef_reference: float = float("nan")
    edv_pred: float = float("nan")
    esv_pred: float = float("nan")
    edv_true: float = float("nan")
    esv_true: float = float("nan")
    volume_unit: str = ""
    disks: dict[str, ViewDisks] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class CaseSnapshot:
    """Frames and masks of one case kept for the report's worst-case overlays."""

    case_id: str
    score: float  # mean Dice of its ED/ES frames (all evaluated frames when those are missing)
    panels: list[dict]  # {"image", "truth", "pred", "label"}


@dataclass
class EvaluationResult:
    summary: dict
    records: list[FrameRecord]
    cases: list[CaseResult]
    worst: list[CaseSnapshot]
    errors: list[dict]
    biplane: list[dict]
    settings: dict
    left_out: list[dict] = field(default_factory=list)  # {"case_id", "reason"}: labels training would not use


def _phase(frame: int, sample: EchoSample) -> str:
    return "ED" if frame == sample.ed else "ES" if frame == sample.es else "other"


def frames_to_evaluate(sample: EchoSample, all_frames: bool) -> list[int]:
    """Every annotated frame when all_frames, else only ED and ES (all annotated ones if those are unknown)."""
    annotated = sample.annotated_frames
    if all_frames:
        return annotated
    key = [f for f in (sample.ed, sample.es) if f is not None and f in sample.masks]
    return sorted(set(key)) or annotated


def _view_key(view: str | None) -> str | None:
    v = (view or "").upper()
    return "2CH" if v in ("2CH", "A2C") else "4CH" if v in ("4CH", "A4C") else None


def evaluate_case(segmenter: Segmenter, sample: EchoSample, metrics: SegmentationMetrics, *,
                  all_frames: bool, compare: tuple[MaskRule, SegmentationMetrics] | None = None,
                  ) -> tuple[CaseResult, CaseSnapshot | None]:
    """Segment one video, feed its frames to `metrics`, compute its EF; returns its result and snapshot.

    compare: (another mask rule, its metrics): the same probabilities scored by that rule too.
    """
    start = time.perf_counter()
    t = sample.video.shape[0]
    pred, probs = segmenter.segment_with_probs(sample.video)  # the masks `predict` writes

    frames = frames_to_evaluate(sample, all_frames)
    records = []
    if frames:
        records = metrics.update(
            pred[frames], np.stack([sample.masks[f] for f in frames]), probs=probs[frames],
            spacing_mm=sample.spacing_mm, case_id=sample.case_id, patient_id=sample.patient_id, view=sample.view,
            frames=frames, phases=[_phase(f, sample) for f in frames],
        )
        if compare is not None:
            rule, compare_metrics = compare
            compare_metrics.update(
                np.stack([rule(probs[f]) for f in frames]), np.stack([sample.masks[f] for f in frames]),
                spacing_mm=sample.spacing_mm, case_id=sample.case_id, patient_id=sample.patient_id,
                view=sample.view, frames=frames, phases=[_phase(f, sample) for f in frames])
    pixel_area = 1.0 if sample.spacing_mm is None else float(sample.spacing_mm[0]) * float(sample.spacing_mm[1])
    result = CaseResult(
        case_id=sample.case_id, patient_id=sample.patient_id, view=sample.view or "", split=sample.split,
        n_frames=t, ed=sample.ed, es=sample.es, unit="mm" if sample.spacing_mm else "px", fps=sample.fps,
        area_pred=pred.reshape(t, -1).sum(1) * pixel_area,
        area_true={r.frame: r.area_true for r in records}, dice={r.frame: r.dice for r in records},
        ef_reference=float(sample.ef) if sample.ef is not None else float("nan"),
    )
    if sample.ed is not None and sample.es is not None and {sample.ed, sample.es} <= set(sample.masks):
        _add_ef(result, sample, pred)
    result.seconds = time.perf_counter() - start
    return result, _snapshot(sample, pred, records)


def _add_ef(result: CaseResult, sample: EchoSample, pred: np.ndarray) -> None:
    ed, es, spacing = sample.ed, sample.es, sample.spacing_mm
    from_pred = ef_from_masks(pred, ed, es, spacing)
    from_true = ef_from_masks(sample.masks, ed, es, spacing)
    result.ef_pred, result.edv_pred, result.esv_pred = from_pred.ef, from_pred.edv, from_pred.esv
    result.ef_true, result.edv_true, result.esv_true = from_true.ef, from_true.edv, from_true.esv
    result.volume_unit = from_pred.unit
    if _view_key(sample.view):
        result.disks = {"pred_ED": view_disks(pred[ed], spacing), "pred_ES": view_disks(pred[es], spacing),
                        "true_ED": view_disks(sample.masks[ed], spacing),
                        "true_ES": view_disks(sample.masks[es], spacing)}


def _snapshot(sample: EchoSample, pred: np.ndarray, records: Sequence[FrameRecord]) -> CaseSnapshot | None:
    if not records:
        return None
    key = [r for r in records if r.phase in ("ED", "ES")] or list(records)
    score = float(np.mean([r.dice for r in key]))
    shown = key if len(key) <= 2 else [min(key, key=lambda r: r.dice), key[-1]]
    panels = [{"image": sample.video[r.frame], "truth": sample.masks[r.frame], "pred": pred[r.frame],
               "label": f"{r.phase if r.phase != 'other' else 'frame'} {r.frame}: Dice {r.dice:.3f}"}
              for r in shown]
    return CaseSnapshot(sample.case_id, score, panels)


def biplane_results(cases: Sequence[CaseResult]) -> list[dict]:
    """Biplane Simpson EF per patient that has both a 2CH and a 4CH case with ED/ES masks."""
    by_patient: dict[str, dict[str, CaseResult]] = {}
    for case in cases:
        key = _view_key(case.view)
        if key and case.disks:
            by_patient.setdefault(case.patient_id, {})[key] = case
    rows = []
    for patient, views in sorted(by_patient.items()):
        if set(views) != {"2CH", "4CH"}:
            continue
        two, four = views["2CH"], views["4CH"]
        if two.unit != four.unit:
            log.warning("%s: 2CH in %s but 4CH in %s; no biplane EF", patient, two.unit, four.unit)
            continue
        in_mm = two.unit == "mm"
        pred = biplane_ef(two.disks["pred_ED"], two.disks["pred_ES"], four.disks["pred_ED"], four.disks["pred_ES"],
                          in_mm=in_mm)
        true = biplane_ef(two.disks["true_ED"], two.disks["true_ES"], four.disks["true_ED"], four.disks["true_ES"],
                          in_mm=in_mm)
        reference = four.ef_reference if math.isfinite(four.ef_reference) else two.ef_reference
        rows.append({"patient_id": patient, "ef_pred": pred.ef, "ef_true": true.ef, "ef_reference": reference,
                     "edv_pred": pred.edv, "esv_pred": pred.esv, "edv_true": true.edv, "esv_true": true.esv,
                     "volume_unit": pred.unit})
    return rows


def ef_summary(cases: Sequence[CaseResult], biplane: Sequence[dict]) -> dict:
    """EF agreement: predicted masks vs ground-truth masks vs the dataset's reference."""

    def three_ways(rows: Sequence, get) -> dict:
        pred, true, ref = (np.array([get(r, k) for r in rows], float) for k in ("ef_pred", "ef_true", "ef_reference"))
        return {"pred_vs_true_masks": ef_agreement(pred, true), "pred_vs_reference": ef_agreement(pred, ref),
                "true_masks_vs_reference": ef_agreement(true, ref)}

    out = {"monoplane": {"method": EF_METHOD, **three_ways(cases, getattr)}}
    if biplane:
        out["biplane"] = {"method": "biplane Simpson (2CH + 4CH, 20 disks, isotropic resampling, h from the longer "
                          "axis at each instant) per patient", **three_ways(biplane, dict.get)}
    return out


def evaluate_model(segmenter: Segmenter, reader: Reader, *, split: str | None = "test", all_frames: bool = True,
                   progress: bool = True, limit: int | None = None, keep_worst: int = 4,
                   metrics: SegmentationMetrics | None = None,
                   case_ids: Sequence[str] | None = None, compare_rule: MaskRule | None = None) -> EvaluationResult:
    """Evaluate `segmenter` (model, input size, mask rule: `load_segmenter`) on `reader`'s cases of
    `split` (None: every case), or on `case_ids` (in that order, whatever their split: a
    cross-validation fold's test cases) when given.

    keep_worst: how many lowest-Dice cases keep frames for the report's overlays.
    compare_rule: another mask rule scored from the same probabilities (segmentation metrics only,
    without AUC), summarised under summary["compare"] (e.g. with and without post-processing).
    """
    metrics = metrics or SegmentationMetrics()
    compare_metrics = SegmentationMetrics()
    case_ids = list(case_ids) if case_ids is not None else reader.case_ids(split)
    if limit is not None:
        case_ids = case_ids[:limit]
    if not case_ids:
        raise EchosegError(f"{reader.root}: no cases to evaluate ({f'the {split} split has none' if split else 'none listed'})")
    # The cases training leaves out for doubtful labels are not scored either: their truth is not a truth.
    doubted = {item.case_id: item.reason for item in listing_left_out(reader)}
    left_out = [{"case_id": case_id, "reason": doubted[case_id]} for case_id in case_ids if case_id in doubted]
    case_ids = [case_id for case_id in case_ids if case_id not in doubted]
    iterator = case_ids
    if progress:
        from tqdm import tqdm

        iterator = tqdm(case_ids, desc="evaluate", unit="video")
    cases: list[CaseResult] = []
    errors: list[dict] = []
    worst: list[tuple[float, int, CaseSnapshot]] = []  # max-heap on -score: keeps the lowest scores
    started = time.perf_counter()
    for order, case_id in enumerate(iterator):
        try:
            sample = reader.load(case_id)
            reason = sample_left_out_reason(reader, sample)
            if reason:
                left_out.append({"case_id": case_id, "reason": reason})
                continue
            case, snap = evaluate_case(segmenter, sample, metrics, all_frames=all_frames,
                                       compare=None if compare_rule is None else (compare_rule, compare_metrics))
        except Exception as exc:  # a bad case must not stop the evaluation of the others
            log.error("%s: skipped: %s", case_id, exc)
            log.debug("traceback of %s", case_id, exc_info=True)
            errors.append({"case_id": case_id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        cases.append(case)
        if snap is not None and keep_worst > 0:
            heapq.heappush(worst, (-snap.score, order, snap))
            if len(worst) > keep_worst:
                heapq.heappop(worst)
    seconds = time.perf_counter() - started
    biplane = biplane_results(cases)
    summary = metrics.aggregate()
    summary["ef"] = ef_summary(cases, biplane)
    if compare_rule is not None:
        summary["compare"] = {"mask_rule": compare_rule.describe(), "groups": compare_metrics.aggregate()["groups"]}
    n_frames = sum(c.n_frames for c in cases)
    for item in left_out:
        log.warning("%s: left out (labels training would not use): %s", item["case_id"], item["reason"])
    summary["run"] = {"split": split or "all", "cases": len(case_ids) + len(left_out), "evaluated": len(cases),
                      "failed": len(errors), "left_out": len(left_out),
                      "frames_predicted": n_frames, "seconds": seconds,
                      "frames_per_second": n_frames / seconds if seconds > 0 else float("nan"),
                      "threshold": segmenter.mask_rule.threshold, "mask_rule": segmenter.mask_rule.describe(),
                      "input_size": list(segmenter.input_size), "all_frames": all_frames}
    settings = {"split": split, "input_size": list(segmenter.input_size), "all_frames": all_frames,
                "batch_size": segmenter.batch_size, "limit": limit}
    snapshots = [snap for _, _, snap in sorted(worst, key=lambda item: -item[0])]
    return EvaluationResult(summary, list(metrics.records), cases, snapshots, errors, biplane, settings, left_out)
