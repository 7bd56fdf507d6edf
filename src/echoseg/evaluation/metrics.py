"""Segmentation metrics as the paper reports them and as EchoNet reports them, backed by MONAI.

`SegmentationMetrics` is a stateful accumulator in MONAI's style: `update` per frame or per batch of
frames, `aggregate` into labelled summaries, `reset`. The per-frame numbers come from MONAI's own
implementations (`compute_dice`, `compute_iou`, `compute_hausdorff_distance` with `spacing` and
`percentile=95`, `compute_roc_auc`); this module only decides what to feed them and how to summarise.

Empty masks. MONAI 1.6 returns Dice/IoU NaN for an empty truth (with its default `ignore_empty`),
HD = inf and HD95 = NaN (with a warning) when either mask is empty. echoseg's rules instead:
- Dice/IoU use `ignore_empty=False`: both masks empty -> 1 (perfect agreement), exactly one empty -> 0.
- HD/HD95: both empty -> 0; exactly one empty -> NaN, excluded from the HD summaries and counted
  (`hd_undefined`, shown as "HD missed" beside HD in every table: an HD mean alone hides a model that
  misses whole frames). MONAI is not called on such frames, so nothing warns or crashes.
  `hd_penalised` counts such a frame at the image diagonal (the largest distance two boundaries
  inside the frame can have) instead of leaving it out.
- AUC needs both classes in the truth: a frame whose truth is empty (or full) gets AUC NaN, counted.
Every such frame is counted in the summary (`empty_pred`, `empty_truth`, `both_empty`).

Distances are in mm when the frame's spacing (dy, dx) is known, else in pixels, and every summary
names its unit. Areas are mm^2 or px^2 likewise.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from monai.metrics import compute_dice, compute_iou, compute_roc_auc
from monai.metrics.utils import get_edge_surface_distance

PHASES = ("ED", "ES", "other")
GROUPS = {"ED": ("ED",), "ES": ("ES",), "ED+ES": ("ED", "ES"), "all_frames": PHASES}

DEFINITIONS = {
    "dice_mean": "per-image Dice 2|P∩T|/(|P|+|T|), mean ± sample std (ddof=1) over frames (the paper's form)",
    "dice_pooled": "pooled Dice 2·Σ|P∩T| / Σ(|P|+|T|) over all frames of the group (EchoNet-Dynamic's form)",
    "iou_mean": "per-image IoU |P∩T|/|P∪T|, mean ± sample std over frames",
    "hd": "Hausdorff distance: max of the two directed boundary-to-boundary distances (MONAI), mean ± std "
    "over frames where both masks are non-empty or both empty (0)",
    "hd95": "95th-percentile Hausdorff distance: max of the two directed 95th percentiles (MONAI), mean ± std",
    "hd_penalised": "Hausdorff distance with every frame where exactly one mask is empty counted at the image "
    "diagonal (instead of left out), mean ± std over all frames",
    "hd_missed": "frames where exactly one of prediction and truth is empty: left out of HD and HD95",
    "auc_mean": "pixel ROC AUC of the probabilities against the truth per frame (MONAI), mean ± std over "
    "frames whose truth has both classes",
    "auc_pooled": "pixel ROC AUC over a uniform random sample of the pixels of all frames of the group pooled",
    "empty masks": "Dice/IoU: both empty = 1, one empty = 0; HD: both empty = 0, one empty = undefined (NaN, "
    "counted in hd_undefined, left out of HD summaries)",
    "temporal": "all-frame evaluation only: per-frame Dice over the sequence; area jitter = mean |A(t+1)-A(t)| "
    "over the sequence divided by the mean true area (percent), for prediction and truth",
}


@dataclass
class FrameRecord:
    """One evaluated frame. Distances in `unit` ("mm" or "px"); areas in unit^2."""

    case_id: str
    patient_id: str
    view: str
    frame: int
    phase: str  # "ED" | "ES" | "other"
    dice: float
    iou: float
    hd: float
    hd95: float
    hd_penalised: float  # hd, or the image diagonal when exactly one mask is empty
    auc: float
    unit: str
    area_pred: float
    area_true: float
    intersection: int  # pixels, for pooled Dice
    size_pred: int
    size_true: int

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_row(self) -> dict:
        return asdict(self)


def _as_batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x[None] if x.ndim == 2 else x


def _monai(array: np.ndarray) -> torch.Tensor:
    """(N, H, W) -> (N, 1, H, W) float tensor, MONAI's one-channel layout."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[:, None]


def hausdorff_pair(pred: np.ndarray, truth: np.ndarray, spacing_mm: Sequence[float] | None = None,
                   percentile: float = 95.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame Hausdorff distance and its `percentile` version of bool masks (N, H, W) or (H, W).

    MONAI's `get_edge_surface_distance` (the routine inside `compute_hausdorff_distance`) gives the
    symmetric boundary-to-boundary distances once per frame; HD is their maximum and HD95 the larger
    of the two directed 95th percentiles, exactly as `compute_hausdorff_distance(percentile=95)`
    (a test checks the two agree), at half the cost of calling it twice.
    spacing_mm is (dy, dx), in the array's axis order, as MONAI expects. Both masks empty -> 0;
    exactly one empty -> NaN (MONAI would give inf or NaN with a warning). Returns two float64 (N,).
    """
    pred, truth = _as_batch(pred).astype(bool), _as_batch(truth).astype(bool)
    has_p = pred.reshape(len(pred), -1).any(1)
    has_t = truth.reshape(len(truth), -1).any(1)
    hd = np.where(has_p | has_t, np.nan, 0.0)
    hd_pct = hd.copy()
    spacing = None if spacing_mm is None else [float(s) for s in spacing_mm]
    with warnings.catch_warnings():
        # MONAI 1.6 emits a FutureWarning from get_mask_edges on every call.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
        for i in np.nonzero(has_p & has_t)[0]:
            _, distances, _ = get_edge_surface_distance(
                torch.from_numpy(pred[i]), torch.from_numpy(truth[i]), spacing=spacing, symmetric=True)
            hd[i] = max(float(d.max()) for d in distances)
            hd_pct[i] = max(float(torch.quantile(d.double(), percentile / 100.0)) for d in distances)
    return hd, hd_pct


def hausdorff(pred: np.ndarray, truth: np.ndarray, spacing_mm: Sequence[float] | None = None,
              percentile: float | None = None) -> np.ndarray:
    """Per-frame HD (percentile None) or percentile HD (e.g. 95) by MONAI; see `hausdorff_pair`."""
    hd, hd_pct = hausdorff_pair(pred, truth, spacing_mm, 95.0 if percentile is None else percentile)
    return hd if percentile is None else hd_pct


def dice_iou(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame Dice and IoU by MONAI (`ignore_empty=False`: both empty -> 1, one empty -> 0)."""
    p, t = _monai(_as_batch(pred)), _monai(_as_batch(truth))
    dice = compute_dice(p, t, include_background=True, ignore_empty=False).reshape(-1).double().numpy()
    iou = compute_iou(p, t, include_background=True, ignore_empty=False).reshape(-1).double().numpy()
    return dice, iou


def roc_auc(probs: np.ndarray, truth: np.ndarray) -> float:
    """Pixel ROC AUC by MONAI of flat probabilities against flat bool labels; NaN with one class only."""
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    if truth.all() or not truth.any():
        return float("nan")
    value = compute_roc_auc(torch.from_numpy(np.asarray(probs, np.float32).reshape(-1)),
                            torch.from_numpy(truth.astype(np.int64)))
    return float(value)


class _BottomKSample:
    """A uniform random sample without replacement of a stream of pixels, capped at `cap`.

    Every pixel gets a uniform random key; the `cap` pixels with the smallest keys are kept (bottom-k
    sampling). Two samples merge exactly, so groups (ED+ES, all frames) are unions of phase samples.
    """

    def __init__(self, cap: int):
        self.cap = cap
        self.keys = np.empty(0, np.float64)
        self.probs = np.empty(0, np.float32)
        self.labels = np.empty(0, bool)

    def add(self, keys: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> None:
        self.keys = np.concatenate([self.keys, keys])
        self.probs = np.concatenate([self.probs, probs.astype(np.float32)])
        self.labels = np.concatenate([self.labels, labels.astype(bool)])
        if len(self.keys) > self.cap:
            keep = np.argpartition(self.keys, self.cap)[: self.cap]
            self.keys, self.probs, self.labels = self.keys[keep], self.probs[keep], self.labels[keep]

    @classmethod
    def merged(cls, parts: Iterable[_BottomKSample], cap: int) -> _BottomKSample:
        out = cls(cap)
        for part in parts:
            out.add(part.keys, part.probs, part.labels)
        return out


class SegmentationMetrics:
    """Accumulates per-frame metrics, then summarises them by phase, video and sequence.

    update(pred, truth, probs=None, spacing_mm=None, case_id=..., frames=..., phases=...)
        pred, truth: bool (H, W) or (N, H, W); probs: float (N, H, W) in [0, 1] for AUC.
    aggregate() -> dict of summaries, each with its definition named; records -> list[FrameRecord].

    auc_max_pixels: per-frame AUC uses at most this many randomly chosen pixels (MONAI's AUC sorts in
    Python-level loops; 16k pixels keep it fast and the estimate within ~0.005).
    pooled_auc_pixels: size of the uniform pixel sample the pooled AUC is computed from.
    """

    def __init__(self, auc_max_pixels: int = 16384, pooled_auc_pixels: int = 200_000, seed: int = 0):
        self.auc_max_pixels = auc_max_pixels
        self.pooled_auc_pixels = pooled_auc_pixels
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.records: list[FrameRecord] = []
        self._rng = np.random.default_rng(self.seed)
        self._pooled = {phase: _BottomKSample(self.pooled_auc_pixels) for phase in PHASES}

    def update(
        self,
        pred: np.ndarray,
        truth: np.ndarray,
        *,
        probs: np.ndarray | None = None,
        spacing_mm: Sequence[float] | None = None,
        case_id: str = "",
        patient_id: str | None = None,
        view: str | None = None,
        frames: Sequence[int] | None = None,
        phases: Sequence[str] | None = None,
    ) -> list[FrameRecord]:
        """Add N frames of one video; returns their records. phases: "ED" | "ES" | "other" per frame."""
        pred, truth = _as_batch(pred).astype(bool), _as_batch(truth).astype(bool)
        if pred.shape != truth.shape:
            raise ValueError(f"{case_id}: prediction {pred.shape} and truth {truth.shape} differ in shape")
        n = len(pred)
        if probs is not None:
            probs = _as_batch(probs)
            if probs.shape != pred.shape:
                raise ValueError(f"{case_id}: probabilities {probs.shape} and masks {pred.shape} differ in shape")
        frames = list(range(n)) if frames is None else [int(f) for f in frames]
        phases = ["other"] * n if phases is None else list(phases)
        if len(frames) != n or len(phases) != n:
            raise ValueError(f"{case_id}: {n} frames but {len(frames)} indices and {len(phases)} phases")
        bad = set(phases) - set(PHASES)
        if bad:
            raise ValueError(f"{case_id}: unknown phases {sorted(bad)}; valid: {PHASES}")

        dice, iou = dice_iou(pred, truth)
        hd, hd95 = hausdorff_pair(pred, truth, spacing_mm, percentile=95)
        unit = "px" if spacing_mm is None else "mm"
        dy, dx = (1.0, 1.0) if spacing_mm is None else (float(spacing_mm[0]), float(spacing_mm[1]))
        diagonal = math.hypot(pred.shape[1] * dy, pred.shape[2] * dx)
        hd_penalised = np.where(np.isnan(hd), diagonal, hd)
        pixel_area = 1.0 if spacing_mm is None else float(spacing_mm[0]) * float(spacing_mm[1])
        inter = (pred & truth).reshape(n, -1).sum(1)
        size_p = pred.reshape(n, -1).sum(1)
        size_t = truth.reshape(n, -1).sum(1)
        new = []
        for i in range(n):
            auc = float("nan")
            if probs is not None:
                auc = self._frame_auc(probs[i].reshape(-1), truth[i].reshape(-1), phases[i])
            new.append(FrameRecord(
                case_id=case_id, patient_id=patient_id or case_id, view=view or "", frame=frames[i],
                phase=phases[i], dice=float(dice[i]), iou=float(iou[i]), hd=float(hd[i]), hd95=float(hd95[i]),
                hd_penalised=float(hd_penalised[i]), auc=auc, unit=unit, area_pred=float(size_p[i]) * pixel_area, area_true=float(size_t[i]) * pixel_area,
                intersection=int(inter[i]), size_pred=int(size_p[i]), size_true=int(size_t[i]),
            ))
        self.records.extend(new)
        return new

    def _frame_auc(self, probs: np.ndarray, labels: np.ndarray, phase: str) -> float:
        m = len(probs)
        if m > self.auc_max_pixels:
            idx = self._rng.choice(m, self.auc_max_pixels, replace=False)
            probs, labels = probs[idx], labels[idx]
        # Feed the pooled sample with keys drawn here, so the pooled AUC is a uniform pixel sample.
        keys = self._rng.random(len(probs))
        self._pooled[phase].add(keys, probs, labels)
        return roc_auc(probs, labels)

    def aggregate(self) -> dict:
        """Summaries: counts, per group (ED, ES, ED+ES, all_frames), per video and temporal consistency."""
        units = sorted({r.unit for r in self.records})
        summary = {
            "definitions": DEFINITIONS,
            "distance_unit": units[0] if len(units) == 1 else ("mixed: " + ", ".join(units) if units else "none"),
            "groups": {},
            "per_video": summarise_videos(self.records),
            "temporal": temporal_summary(self.records),
        }
        for name, phases in GROUPS.items():
            records = [r for r in self.records if r.phase in phases]
            if not records:
                continue
            group = summarise_records(records)
            pooled = _BottomKSample.merged((self._pooled[p] for p in phases), self.pooled_auc_pixels)
            group["auc_pooled"] = {"value": roc_auc(pooled.probs, pooled.labels), "n_pixels": int(len(pooled.labels)),
                                   "definition": DEFINITIONS["auc_pooled"]}
            summary["groups"][name] = group
        return summary


def mean_std(values: Iterable[float]) -> dict:
    """{"mean", "std" (sample, ddof=1; 0 for one value), "n"} over the finite values; NaN when none."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(arr) == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": int(len(arr))}


def pooled_dice(records: Sequence[FrameRecord]) -> float:
    """EchoNet's pooled Dice: 2·Σ|P∩T| / Σ(|P|+|T|) over the records (1 when every mask is empty)."""
    inter = sum(r.intersection for r in records)
    sizes = sum(r.size_pred + r.size_true for r in records)
    return 1.0 if sizes == 0 else 2.0 * inter / sizes


def summarise_records(records: Sequence[FrameRecord]) -> dict:
    """Labelled summary of a group of frames (without the pooled AUC, which needs the pixel sample)."""
    units = sorted({r.unit for r in records})
    unit = units[0] if len(units) == 1 else "mixed"
    empty_p = sum(r.size_pred == 0 for r in records)
    empty_t = sum(r.size_true == 0 for r in records)
    both = sum(r.size_pred == 0 and r.size_true == 0 for r in records)
    return {
        "n_frames": len(records),
        "dice_mean": {**mean_std(r.dice for r in records), "definition": DEFINITIONS["dice_mean"]},
        "dice_pooled": {"value": pooled_dice(records), "definition": DEFINITIONS["dice_pooled"]},
        "iou_mean": {**mean_std(r.iou for r in records), "definition": DEFINITIONS["iou_mean"]},
        "hd": {**mean_std(r.hd for r in records), "unit": unit, "definition": DEFINITIONS["hd"]},
        "hd95": {**mean_std(r.hd95 for r in records), "unit": unit, "definition": DEFINITIONS["hd95"]},
        "hd_penalised": {**mean_std(r.hd_penalised for r in records), "unit": unit,
                         "definition": DEFINITIONS["hd_penalised"]},
        "auc_mean": {**mean_std(r.auc for r in records), "definition": DEFINITIONS["auc_mean"]},
        "counts": {
            "empty_pred": int(empty_p), "empty_truth": int(empty_t), "both_empty": int(both),
            "hd_undefined": int(sum(math.isnan(r.hd) for r in records)),
            "auc_undefined": int(sum(math.isnan(r.auc) for r in records)),
        },
    }


def _by_case(records: Iterable[FrameRecord]) -> dict[str, list[FrameRecord]]:
    cases: dict[str, list[FrameRecord]] = defaultdict(list)
    for r in records:
        cases[r.case_id].append(r)
    return cases


def summarise_videos(records: Sequence[FrameRecord]) -> list[dict]:
    """One row per video of the report (metrics.json): its frames' mean Dice/IoU/HD/HD95/AUC, pooled Dice
    and ED/ES Dice. A description of the video; what protocols pair on is `per_video_metrics`."""
    rows = []
    for case_id, recs in _by_case(records).items():
        by_phase = {r.phase: r for r in recs if r.phase in ("ED", "ES")}
        rows.append({
            "case_id": case_id, "patient_id": recs[0].patient_id, "view": recs[0].view, "n_frames": len(recs),
            "unit": recs[0].unit,
            "dice_mean": mean_std(r.dice for r in recs)["mean"], "dice_pooled": pooled_dice(recs),
            "iou_mean": mean_std(r.iou for r in recs)["mean"],
            "hd_mean": mean_std(r.hd for r in recs)["mean"], "hd95_mean": mean_std(r.hd95 for r in recs)["mean"],
            "hd_penalised_mean": mean_std(r.hd_penalised for r in recs)["mean"],
            "hd_missed": int(sum(math.isnan(r.hd) for r in recs)),
            "auc_mean": mean_std(r.auc for r in recs)["mean"],
            "dice_ed": by_phase["ED"].dice if "ED" in by_phase else float("nan"),
            "dice_es": by_phase["ES"].dice if "ES" in by_phase else float("nan"),
        })
    return rows


# The per-video scores every protocol pairs on (`workflows.engine.CaseResult`, read back from run.json).
PER_VIDEO_METRICS = ("dice", "hd", "hd_penalised", "auc")


def per_video_metrics(records, metrics: Sequence[str] = PER_VIDEO_METRICS) -> dict[str, dict[str, float]]:
    """The one per-video score of the protocols (cv, ablation, compare, benchmarks/paired_runs):
    {metric: {video: mean over its ED and ES frames}}; frames where the metric is undefined (NaN: HD
    with an empty mask) are left out, NaN when none is.

    records: FrameRecords, or anything with `case_id`, `phase` and the metrics as attributes.
    """
    by_video: dict[str, list] = {}
    for r in records:
        if r.phase in ("ED", "ES"):
            by_video.setdefault(r.case_id, []).append(r)
    out: dict[str, dict[str, float]] = {}
    for key in metrics:
        out[key] = {}
        for video, recs in by_video.items():
            values = np.asarray([getattr(r, key) for r in recs])
            out[key][video] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out


def temporal_consistency(area_pred: Sequence[float], area_true: Sequence[float], dice: Sequence[float]) -> dict:
    """Consistency of one sequence of consecutive frames.

    area_jitter_pred/true: mean |A(t+1) - A(t)| / mean(A_true) in percent: how much the area moves from
    frame to frame. A smooth, correct prediction has jitter close to the truth's (ratio ~ 1);
    flicker shows as a ratio > 1. area_error_jitter: mean |ΔA_pred - ΔA_true| / mean(A_true) (percent).
    """
    ap, at, d = (np.asarray(x, dtype=float) for x in (area_pred, area_true, dice))
    scale = float(at.mean()) if len(at) and at.mean() > 0 else float("nan")
    dp, dt = np.diff(ap), np.diff(at)
    jp = 100.0 * float(np.abs(dp).mean()) / scale if len(dp) else float("nan")
    jt = 100.0 * float(np.abs(dt).mean()) / scale if len(dt) else float("nan")
    return {
        "n_frames": int(len(d)),
        "dice_mean": float(np.nanmean(d)) if len(d) else float("nan"),
        "dice_min": float(np.nanmin(d)) if len(d) else float("nan"),
        "dice_std": float(np.nanstd(d, ddof=1)) if len(d) > 1 else 0.0,
        "area_jitter_pred_pct": jp,
        "area_jitter_true_pct": jt,
        "jitter_ratio": jp / jt if jt and math.isfinite(jt) and jt > 0 else float("nan"),
        "area_error_jitter_pct": 100.0 * float(np.abs(dp - dt).mean()) / scale if len(dp) else float("nan"),
    }


def sequence_records(records: Sequence[FrameRecord], min_frames: int = 3) -> dict[str, list[FrameRecord]]:
    """Videos evaluated on a run of at least `min_frames` consecutive frames (all-frame evaluation)."""
    out = {}
    for case_id, recs in _by_case(records).items():
        recs = sorted(recs, key=lambda r: r.frame)
        frames = np.array([r.frame for r in recs])
        if len(recs) >= min_frames and np.all(np.diff(frames) == 1):
            out[case_id] = recs
    return out


def temporal_summary(records: Sequence[FrameRecord]) -> dict:
    """Temporal consistency per all-frame video and mean ± std over those videos."""
    per_video = {}
    for case_id, recs in sequence_records(records).items():
        per_video[case_id] = temporal_consistency([r.area_pred for r in recs], [r.area_true for r in recs],
                                                  [r.dice for r in recs])
    keys = ("dice_mean", "dice_min", "area_jitter_pred_pct", "area_jitter_true_pct", "jitter_ratio",
            "area_error_jitter_pct")
    overall = {k: mean_std(v[k] for v in per_video.values()) for k in keys} if per_video else {}
    return {"n_videos": len(per_video), "definition": DEFINITIONS["temporal"], "summary": overall,
            "per_video": per_video}
