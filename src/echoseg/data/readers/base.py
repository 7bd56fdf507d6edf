"""The reader contract every data source follows.

A reader is opened on a dataset root. Listing (`records`) is lazy: it reads tables only, never
decodes a video, so listing EchoNet's 10,030 cases is instant. `load(case_id)` decodes one case into
an `EchoSample` (video uint8 (T, H, W) in time order, bool masks (H, W), spacing (dy, dx) in mm or
None). Bad input raises `DataError` naming the file and the problem. Problems found while listing
(cases skipped, tables that disagree) are collected in `problems` rather than raised, so a summary
can report them all and go on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import DataError


@dataclass
class Problem:
    """A problem found in a dataset: the file, the case (if any) and what is wrong.

    suspect: the case is still listed and loads, but its labels are doubtful (a tracing with too
    few rows, ED/ES that contradict the masks): training leaves it out (`echoseg.data.screening`).
    """

    path: str
    problem: str
    case_id: str | None = None
    suspect: bool = False


class Reader(ABC):
    format_name: str = ""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.problems: list[Problem] = []
        self._skipped: dict[str, Problem] = {}  # case id -> why listing skipped it

    @abstractmethod
    def records(self) -> list[CaseRecord]:
        """All usable cases, without decoding any video."""

    @abstractmethod
    def load(self, case_id: str) -> EchoSample:
        """Decode one case. Raises DataError (naming the file) on bad input."""

    def _lookup(self, cases: dict, case_id: str, unknown: DataError):
        """The listed case `case_id`; a case skipped while listing raises its problem, any other `unknown`."""
        if case_id in cases:
            return cases[case_id]
        if case_id in self._skipped:
            skipped = self._skipped[case_id]
            raise DataError(skipped.path, f"{case_id}: {skipped.problem}")
        raise unknown

    @property
    def skipped_cases(self) -> dict[str, Problem]:
        """Cases the dataset names that listing skipped (missing video, unusable tracing...), with why."""
        self.records()
        return dict(self._skipped)

    def case_ids(self, split: str | None = None) -> list[str]:
        return [r.case_id for r in self.records() if split is None or r.split == split]

    def __len__(self) -> int:
        return len(self.records())
