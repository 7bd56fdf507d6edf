"""Patient-level cross-validation folds, fold aggregation and the paper's Table 2 layout.

Folds split patients, never cases: CAMUS has a 2CH and a 4CH case per patient, and both must land
in the same fold or the test set leaks into training. The paper uses 5-fold cross-validation
(80 % train / 20 % test per fold). When the CAMUS official split lists are present
(`database_split/subgroup_{training,validation,testing}.txt`), `make_folds(..., official=...)`
returns that one official fold instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoseg.data.schema import CaseRecord
from echoseg.data.splits import hold_out_patients
from echoseg.errors import DataError

CAMUS_SPLIT_FILES = {"train": "subgroup_training.txt", "val": "subgroup_validation.txt", "test": "subgroup_testing.txt"}


@dataclass
class Fold:
    """Case ids of one fold. `source` is "kfold" or "official"."""

    index: int
    train: list[str]
    val: list[str]
    test: list[str]
    source: str = "kfold"

    def as_dict(self) -> dict:
        return {"index": self.index, "source": self.source, "train": self.train, "val": self.val, "test": self.test}


def read_camus_split_lists(root: str | Path) -> dict[str, str] | None:
    """{patient_id: "train"|"val"|"test"} from CAMUS `database_split/` lists; None when absent.

    Looks in ROOT/database_split and ROOT/../database_split (ROOT may be database_nifti).
    """
    root = Path(root)
    for folder in (root / "database_split", root.parent / "database_split"):
        if all((folder / name).is_file() for name in CAMUS_SPLIT_FILES.values()):
            break
    else:
        return None
    mapping: dict[str, str] = {}
    for split, name in CAMUS_SPLIT_FILES.items():
        for line in (folder / name).read_text().splitlines():
            patient = line.strip()
            if not patient:
                continue
            if not re.fullmatch(r"patient\d+", patient):
                raise DataError(folder / name, f"expected a patient id like patient0001, got {patient!r}")
            if patient in mapping and mapping[patient] != split:
                raise DataError(folder / name, f"{patient} is in both {mapping[patient]} and {split} lists")
            mapping[patient] = split
    return mapping


def make_folds(records: Sequence[CaseRecord], k: int = 5, seed: int = 0, *, val_fraction: float = 0.1,
               official: Mapping[str, str] | None = None) -> list[Fold]:
    """Patient-level folds over `records`.

    k-fold (default): patients are shuffled with `seed` (sorted first, so the result does not depend
    on listing order) and dealt into k test folds of near-equal size; each fold's other patients are
    split again into val and train by `echoseg.data.splits.hold_out_patients` (`val_fraction` of
    them, at least one when val_fraction > 0).
    official: {patient_id: split} (e.g. `read_camus_split_lists`): one fold following it; patients
    missing from the lists are left out.
    """
    by_patient: dict[str, list[str]] = {}
    for r in records:
        by_patient.setdefault(r.patient_id, []).append(r.case_id)
    patients = sorted(by_patient)

    def cases(pats) -> list[str]:
        return sorted(c for p in pats for c in by_patient[p])

    if official is not None:
        groups = {s: [p for p in patients if official.get(p) == s] for s in ("train", "val", "test")}
        if not groups["test"] or not groups["train"]:
            raise ValueError("official split lists name no training or no test patient among these records")
        return [Fold(0, cases(groups["train"]), cases(groups["val"]), cases(groups["test"]), "official")]
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    if len(patients) < k:
        raise ValueError(f"{len(patients)} patients cannot make {k} folds")
    rng = np.random.default_rng(seed)
    order = [patients[i] for i in rng.permutation(len(patients))]
    test_sets = [order[i::k] for i in range(k)]
    folds = []
    for i, test in enumerate(test_sets):
        held_out = set(test)
        rest = [p for p in order if p not in held_out]
        val = hold_out_patients(rest, val_fraction, seed)
        folds.append(Fold(i, cases(p for p in rest if p not in val), cases(val), cases(test)))
    return folds


def headline_metrics(summary: Mapping, group: str = "ED+ES") -> dict[str, float]:
    """The numbers a fold table needs, flattened from an evaluation summary (`EvaluationResult.summary`).

    dice/iou/hd/hd95/auc are per-image means over `group`'s frames (the paper's form); dice_pooled and
    auc_pooled the pooled forms; ef_mae_* the monoplane EF MAE against the reference and the truth masks.
    """
    g = summary.get("groups", {}).get(group)
    nan = float("nan")
    out = {k: nan for k in ("dice", "dice_pooled", "iou", "hd", "hd95", "auc", "auc_pooled")}
    if g:
        out.update(dice=g["dice_mean"]["mean"], dice_pooled=g["dice_pooled"]["value"], iou=g["iou_mean"]["mean"],
                   hd=g["hd"]["mean"], hd95=g["hd95"]["mean"], auc=g["auc_mean"]["mean"],
                   auc_pooled=g["auc_pooled"]["value"])
    mono = summary.get("ef", {}).get("monoplane", {})
    out["ef_mae_vs_reference"] = mono.get("pred_vs_reference", {}).get("mae", nan)
    out["ef_mae_vs_true_masks"] = mono.get("pred_vs_true_masks", {}).get("mae", nan)
    return out


def aggregate_folds(fold_metrics: Sequence[Mapping[str, float]]) -> dict[str, dict]:
    """Mean ± sample std (ddof=1) across folds of each metric: {name: {"mean", "std", "n", "values"}}.

    Non-finite values (a fold with no defined HD, say) are left out of that metric's mean and n.
    """
    names = sorted({name for m in fold_metrics for name in m})
    out = {}
    for name in names:
        values = [float(m[name]) for m in fold_metrics if name in m and m[name] is not None]
        finite = np.array([v for v in values if math.isfinite(v)])
        out[name] = {
            "mean": float(finite.mean()) if len(finite) else float("nan"),
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else (0.0 if len(finite) else float("nan")),
            "n": int(len(finite)),
            "values": values,
        }
    return out


def _cell(stats: Mapping | float | None, digits: int) -> str:
    if stats is None:
        return "–"
    if isinstance(stats, Mapping):
        mean, std = stats.get("mean", float("nan")), stats.get("std")
        if not math.isfinite(mean):
            return "–"
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None and math.isfinite(std) else f"{mean:.{digits}f}"
    return f"{stats:.{digits}f}" if math.isfinite(stats) else "–"


def format_table(results: Mapping[str, Mapping[str, Mapping[str, Mapping | float]]],
                 columns: Sequence[tuple[str, str]] = (("dice", "DC"), ("hd", "HD"), ("auc", "AUC")),
                 digits: int | Mapping[str, int] = 3, row_title: str = "Method") -> str:
    """Table 2 layout as Markdown: one row per method, metric columns grouped by dataset.

    results[method][dataset][metric] is {"mean", "std"} (as from `aggregate_folds`) or a number.
    columns: (metric key, header) pairs, e.g. add ("ms_per_frame", "ms/frame") for Table 5.
    digits: decimals, one number or per metric key.
    """
    datasets: list[str] = []
    for per_dataset in results.values():
        datasets += [d for d in per_dataset if d not in datasets]
    header = [row_title] + [f"{d} {title}" for d in datasets for _, title in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    for method, per_dataset in results.items():
        cells = [method]
        for d in datasets:
            for key, _ in columns:
                n = digits if isinstance(digits, int) else digits.get(key, 3)
                cells.append(_cell(per_dataset.get(d, {}).get(key), n))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
