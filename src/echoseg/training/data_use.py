"""What a training run does with each case of its dataset, said out loud.

`DataUse` holds the cases trained on (train, val), the cases left out with why
(`echoseg.data.screening`), and the rest (the test split, cases beyond `data.max_train_cases` or
outside a split file). Training logs how many cases it uses and each case it leaves out, writes
RUN/cases.csv, and refuses to start when more than `data.max_bad_fraction` of the dataset is left
out for problems (a dataset that broken is more likely a wrong folder or format than a few bad cases).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from echoseg.data.schema import CaseRecord
from echoseg.data.screening import LeftOut
from echoseg.errors import EchosegError
from echoseg.io import atomic_write_text

log = logging.getLogger(__name__)

SHOWN_LEFT_OUT = 25  # more are in RUN/cases.csv


class TooManyBadCases(EchosegError):
    """More of the dataset is unusable than `data.max_bad_fraction` allows."""


@dataclass
class DataUse:
    records: list[CaseRecord]  # every case the dataset lists
    train: list[str]  # case ids trained on
    val: list[str]  # case ids validated on
    left_out: list[LeftOut] = field(default_factory=list)  # problems: never used
    unlabeled: int = 0  # untraced videos of data.unlabeled in the run (not cases of the dataset)

    @property
    def n_cases(self) -> int:
        """Cases in the dataset: listed ones plus those listing skipped."""
        listed = {r.case_id for r in self.records}
        return len(listed | {item.case_id for item in self.left_out})

    @property
    def bad_fraction(self) -> float:
        return len(self.left_out) / self.n_cases if self.n_cases else 0.0

    def role(self, case_id: str, split: str | None) -> tuple[str, str]:
        """(use, reason) of one case for cases.csv."""
        reasons = {item.case_id: item.reason for item in self.left_out}
        if case_id in reasons:
            return "left out", reasons[case_id]
        if case_id in self._train_set:
            return "train", ""
        if case_id in self._val_set:
            return "val", ""
        if split == "test":
            return "test", "test split: never trained on"
        return "unused", "not selected (data.split_file, data.max_train_cases or data.max_val_cases)"

    def __post_init__(self) -> None:
        self._train_set, self._val_set = set(self.train), set(self.val)

    def summary(self) -> str:
        # Cases the dataset marks test and the run does not train on. A split file (a CV fold) can train on
        # cases the dataset marks test; counting those here would say they were not used.
        tests = sum(1 for r in self.records if r.split == "test" and self.role(r.case_id, r.split)[0] == "test")
        line = (f"training on {len(self.train) + len(self.val)} cases ({len(self.train)} train, {len(self.val)} val) "
                f"of {self.n_cases}; {len(self.left_out)} left out")
        line += f"; {tests} test cases not used" if tests else ""
        return line + (f"; plus {self.unlabeled} untraced videos (data.unlabeled, consistency loss only)"
                       if self.unlabeled else "")

    def report(self, where: Path | None = None) -> None:
        """Log the summary and each case left out (the first SHOWN_LEFT_OUT; all are in `where`)."""
        log.info("%s%s", self.summary(), ":" if self.left_out else "")
        for item in self.left_out[:SHOWN_LEFT_OUT]:
            log.warning("  left out %s: %s", item.case_id, item.reason)
        if len(self.left_out) > SHOWN_LEFT_OUT:
            log.warning("  ... and %d more, listed in %s", len(self.left_out) - SHOWN_LEFT_OUT, where or "cases.csv")

    def check(self, max_bad_fraction: float) -> None:
        """Raise TooManyBadCases when more than `max_bad_fraction` of the cases are left out."""
        if self.bad_fraction > max_bad_fraction:
            raise TooManyBadCases(
                f"{len(self.left_out)} of {self.n_cases} cases ({100 * self.bad_fraction:.0f}%) have problems and "
                f"would be left out of training, more than data.max_bad_fraction={max_bad_fraction:g}; each is "
                "listed above and by `echoseg data summary`. Fix them, or pass --allow-bad-cases "
                "(--set data.max_bad_fraction=1) to train without them")

    def write_csv(self, path: Path) -> None:
        """case_id, split, use (train | val | test | unused | left out), reason."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["case_id", "split", "use", "reason"])
        listed = {r.case_id for r in self.records}
        for record in self.records:
            writer.writerow([record.case_id, record.split or "", *self.role(record.case_id, record.split)])
        for item in self.left_out:
            if item.case_id not in listed:
                writer.writerow([item.case_id, "", "left out", item.reason])
        atomic_write_text(path, buffer.getvalue())
