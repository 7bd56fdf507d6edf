"""Reader for the native synthetic layout written by `echoseg synth --format synthetic`.

Layout: `cases.csv` (case_id, patient_id, split, n_frames, fps, ef, edv, esv, view, file) and one
compressed `cases/<case_id>.npz` per video holding the video, bit-packed LV masks for every frame,
CAMUS-style labels, every ED/ES frame, spacing, per-frame volumes and the EF. Listing reads the
table only; `load` opens one npz (never with pickle).
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np

from echoseg.data.readers.base import Reader
from echoseg.data.schema import SPLITS, CaseRecord, EchoSample
from echoseg.errors import DataError

REQUIRED_COLUMNS = ("case_id", "patient_id", "split", "n_frames", "fps", "ef")
REQUIRED_ARRAYS = ("video", "masks_packed", "mask_shape", "labels", "ed", "es", "ed_frames", "es_frames",
                   "spacing_mm", "fps", "ef", "volumes", "apex", "base_mid")


def _optional_float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


class SyntheticReader(Reader):
    format_name = "synthetic"

    def __init__(self, root: str | Path):
        super().__init__(root)
        self._records: dict[str, CaseRecord] | None = None
        self._files: dict[str, Path] = {}

    @property
    def table(self) -> Path:
        return self.root / "cases.csv"

    def records(self) -> list[CaseRecord]:
        if self._records is None:
            self._records = self._read_table()
        return list(self._records.values())

    def _read_table(self) -> dict[str, CaseRecord]:
        if not self.table.is_file():
            raise DataError(self.table, "missing: not a synthetic dataset (write one with `echoseg synth --format synthetic`)")
        with open(self.table, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(self.table, f"missing columns {missing}; found {reader.fieldnames}")
            records = {}
            for line, row in enumerate(reader, start=2):
                try:
                    split = row["split"].strip().lower() or None
                    if split is not None and split not in SPLITS:
                        raise ValueError(f"split {row['split']!r} is not one of {SPLITS}")
                    record = CaseRecord(
                        case_id=row["case_id"], patient_id=row["patient_id"] or row["case_id"], split=split,
                        view=row.get("view") or None, fps=_optional_float(row["fps"]), n_frames=int(row["n_frames"]),
                        ef=_optional_float(row["ef"]), edv=_optional_float(row.get("edv")),
                        esv=_optional_float(row.get("esv")),
                    )
                except (TypeError, ValueError) as exc:
                    raise DataError(self.table, f"line {line}: {exc}") from exc
                if record.case_id in records:
                    raise DataError(self.table, f"line {line}: case {record.case_id!r} listed twice")
                records[record.case_id] = record
                self._files[record.case_id] = self.root / (row.get("file") or f"cases/{record.case_id}.npz")
        return records

    def _arrays(self, case_id: str) -> tuple[Path, dict[str, np.ndarray]]:
        self.records()
        if case_id not in self._files:
            raise DataError(self.table, f"no case {case_id!r}")
        path = self._files[case_id]
        if not path.is_file():
            raise DataError(path, f"missing: the npz of case {case_id!r} listed in {self.table.name}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                missing = [k for k in REQUIRED_ARRAYS if k not in npz.files]
                if missing:
                    raise DataError(path, f"missing arrays {missing}")
                return path, {k: npz[k] for k in npz.files}
        except DataError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(path, f"unreadable npz: {exc}") from exc

    def load(self, case_id: str) -> EchoSample:
        path, a = self._arrays(case_id)
        video = a["video"]
        if video.dtype != np.uint8 or video.ndim != 3:
            raise DataError(path, f"video must be uint8 (T, H, W), got {video.dtype} {video.shape}")
        shape = tuple(int(v) for v in a["mask_shape"])
        if shape != video.shape:
            raise DataError(path, f"mask shape {shape} does not match video shape {video.shape}")
        needed = int(np.prod(shape))
        if a["masks_packed"].size * 8 < needed:
            raise DataError(path, f"packed masks hold {a['masks_packed'].size * 8} bits, need {needed}")
        masks = np.unpackbits(a["masks_packed"], count=needed).reshape(shape).astype(bool)
        labels = a["labels"]
        if labels.shape != video.shape:
            raise DataError(path, f"labels shape {labels.shape} does not match video shape {video.shape}")
        t = video.shape[0]
        ed, es = int(a["ed"]), int(a["es"])
        if not (0 <= ed < t and 0 <= es < t):
            raise DataError(path, f"ED {ed} / ES {es} outside the video's {t} frames")
        record = self._records[case_id]
        spacing = tuple(float(v) for v in a["spacing_mm"])
        volumes = a["volumes"]
        return EchoSample(
            video=video, masks={i: masks[i] for i in range(t)}, case_id=case_id, patient_id=record.patient_id,
            ed=ed, es=es, spacing_mm=spacing, fps=float(a["fps"]), view=record.view or "A4C", split=record.split,
            ef=float(a["ef"]), edv=float(volumes[ed]), esv=float(volumes[es]),
            labels={i: labels[i] for i in range(t)},
        )

    def truth(self, case_id: str):
        """The generator's truth for a case: every ED/ES frame, volumes, apex/base per frame, labels."""
        from echoseg.data.synthetic.generator import SyntheticTruth

        path, a = self._arrays(case_id)
        params = json.loads(str(a["params"])) if "params" in a else {}
        return SyntheticTruth(
            ed_frames=[int(v) for v in a["ed_frames"]], es_frames=[int(v) for v in a["es_frames"]],
            ef=float(a["ef"]), volumes=a["volumes"], apex=a["apex"], base_mid=a["base_mid"], labels=a["labels"],
            diameters=a.get("diameters"), lengths=a.get("lengths"), params=params,
        )
