"""Dataset sanity check: load every case, rebuild EF from the ground-truth masks, compare with the reference.

`check_dataset(reader)` goes through the cases (all, or the first `limit`), loads each one and
records what it found in a `CaseCheck` row; a case that fails to load is recorded with its error and
the check goes on. `DatasetCheck.summary_lines()` is what `echoseg data summary` prints and
`write_cases_csv` writes one row per case.

EF from masks: monoplane method of disks (20 disks) on the ED and ES ground-truth masks, with the
sample's spacing when known (EF is scale-free for isotropic pixels). For CAMUS this is per view; the
biplane figure belongs to the evaluation code.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echoseg.data.readers.base import Problem, Reader
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import EchosegError
from echoseg.geometry.volumes import ef_from_masks
from echoseg.io import atomic_write_text


@dataclass
class CaseCheck:
    """One row of cases.csv. EF values in percent; None where unknown (written as empty cells)."""

    case_id: str
    patient_id: str
    split: str | None
    view: str | None
    n_frames: int | None
    annotated_frames: int | None
    ed: int | None = None
    es: int | None = None
    ef_reference: float | None = None
    ef_from_masks: float | None = None
    ef_from_tracings: float | None = None
    error: str = ""


CSV_COLUMNS = [f.name for f in fields(CaseCheck)]


def truth_mask_ef(sample: EchoSample) -> float | None:
    """Monoplane method-of-disks EF (percent) of a sample's ED and ES truth masks; None without both."""
    if sample.ed is None or sample.es is None or sample.ed not in sample.masks or sample.es not in sample.masks:
        return None
    return _finite_or_none(ef_from_masks(sample.masks, sample.ed, sample.es, sample.spacing_mm).ef)


def check_case(reader: Reader, record: CaseRecord) -> CaseCheck:
    """Load one case and compute its EF figures; any failure is recorded in `error`, never raised."""
    row = CaseCheck(
        case_id=record.case_id,
        patient_id=record.patient_id,
        split=record.split,
        view=record.view,
        n_frames=record.n_frames,
        annotated_frames=None,
        ef_reference=record.ef,
    )
    tracing_ef = getattr(reader, "tracing_ef", None)
    if tracing_ef is not None:
        try:
            row.ef_from_tracings = _finite_or_none(tracing_ef(record.case_id))
        except EchosegError:
            pass  # no two traced frames (an untraced video listed for unlabeled use): no tracing EF
    try:
        sample = reader.load(record.case_id)
        row.n_frames = sample.n_frames
        row.annotated_frames = len(sample.masks)
        row.ed, row.es = sample.ed, sample.es
        row.ef_from_masks = truth_mask_ef(sample)
    except EchosegError as exc:  # DataError names the file and the problem already
        row.error = str(exc)
    except Exception as exc:  # a batch check reports every failure and goes on
        row.error = f"{type(exc).__name__}: {exc}"
    return row


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass
class DatasetCheck:
    """Everything `echoseg data summary` reports about one dataset."""

    root: str
    format: str
    records: list[CaseRecord]
    cases: list[CaseCheck]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseCheck]:
        return [case for case in self.cases if case.error]

    def ef_mae(self, a: str, b: str) -> tuple[float | None, int]:
        """Mean absolute difference of two EF columns over the cases that have both, and that count."""
        pairs = [(getattr(c, a), getattr(c, b)) for c in self.cases]
        diffs = [abs(x - y) for x, y in pairs if x is not None and y is not None]
        return (float(np.mean(diffs)) if diffs else None), len(diffs)

    def summary_lines(self) -> list[str]:
        records, checked, failed = self.records, self.cases, self.failed
        lines = [f"dataset      {self.root} ({self.format})"]
        lines.append(f"cases        {len(records)} listed, {len(checked)} checked, {len(failed)} failed")
        splits = Counter(record.split or "none" for record in records)
        lines.append("splits       " + ", ".join(f"{name} {splits[name]}" for name in sorted(splits)))
        views = Counter(record.view or "none" for record in records)
        lines.append("views        " + ", ".join(f"{name} {views[name]}" for name in sorted(views)))
        loaded = [case for case in checked if not case.error]
        frames = [case.n_frames for case in loaded if case.n_frames is not None]
        if frames:
            lines.append(f"frames       {sum(frames)} in {len(frames)} loaded videos; per video {_spread(frames, '{:.0f}')}")
        annotated = [case.annotated_frames for case in loaded if case.annotated_frames is not None]
        if annotated:
            lines.append(f"annotated    {sum(annotated)} frames; per video {_spread(annotated, '{:.0f}')}")
        ef_listed = [record.ef for record in records if record.ef is not None]
        lines.append(f"EF reference {_spread(ef_listed)} ({len(ef_listed)} cases)" if ef_listed else "EF reference none")
        for column, label in (("ef_from_masks", "EF masks   "), ("ef_from_tracings", "EF tracings")):
            values = [getattr(case, column) for case in checked if getattr(case, column) is not None]
            if values:
                lines.append(f"{label}  {_spread(values)} ({len(values)} cases)")
        for a, b in (("ef_from_masks", "ef_reference"), ("ef_from_tracings", "ef_reference"),
                     ("ef_from_masks", "ef_from_tracings")):
            mae, count = self.ef_mae(a, b)
            if mae is not None:
                lines.append(f"MAE          |{a} - {b}| = {mae:.2f} EF points over {count} cases")
        lines.extend(self.notes)
        problems = self.problems + [Problem("", case.error, case.case_id) for case in failed]
        lines.append(f"problems     {len(problems)}")
        for problem in problems:
            who = f"[{problem.case_id}] " if problem.case_id else ""
            where = f"{problem.path}: " if problem.path and problem.path not in problem.problem else ""
            lines.append(f"  - {who}{where}{problem.problem}")
        return lines


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    array = np.asarray(values, dtype=float)
    return "min {} / median {} / max {}".format(*(fmt.format(v) for v in (array.min(), np.median(array), array.max())))


def reader_notes(reader: Reader) -> list[str]:
    """Format-specific findings worth a line in the summary (ED/ES listing order, reversed sequences)."""
    notes = []
    first, last = getattr(reader, "ed_listed_first", None), getattr(reader, "ed_listed_last", None)
    if first is not None and last is not None:
        notes.append(
            f"ED/ES order  larger traced frame (ED) listed first in {len(first)}, last in {len(last)} videos; "
            f"{len(first)} disagree with echonet/dynamic's last-listed-is-ED convention (ED taken by area)"
        )
    untraced = getattr(reader, "untraced", None)
    if untraced is not None:
        notes.append(f"untraced     {len(untraced)} videos with fewer than two traced frames")
    reversed_cases = getattr(reader, "reversed_cases", None)
    if reversed_cases is not None:
        notes.append(f"ES->ED       {len(reversed_cases)} sequences stored ES->ED (reversed to ED->ES on load)")
    return notes


def check_dataset(
    reader: Reader, *, format_name: str = "", limit: int | None = None, progress: bool = True
) -> DatasetCheck:
    """Check the first `limit` cases (all when None) of an opened dataset; failures are recorded, not raised."""
    records = reader.records()
    selected = records if limit is None else records[: max(limit, 0)]
    cases = [check_case(reader, record) for record in tqdm(selected, desc="checking cases", unit="case",
                                                                 disable=not progress)]
    return DatasetCheck(
        root=str(reader.root),
        format=format_name or reader.format_name,
        records=records,
        cases=cases,
        problems=list(reader.problems),
        notes=reader_notes(reader),
    )


def write_cases_csv(path: str | Path, cases: list[CaseCheck]) -> None:
    """One row per case (CSV_COLUMNS); None becomes an empty cell; EF values with 2 decimals. Atomic."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for case in cases:
        row = asdict(case)
        writer.writerow({
            key: "" if value is None else (f"{value:.2f}" if isinstance(value, float) else value)
            for key, value in row.items()
        })
    atomic_write_text(path, buffer.getvalue())
