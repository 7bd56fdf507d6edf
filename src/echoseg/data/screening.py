"""Which cases can be trained on, and why each other cannot: the checks `echoseg data summary`
reports are the checks training applies.

A case is left out of training when
- listing skipped it (`Reader.skipped_cases`: video missing, traced frame outside the video, a
  non-numeric tracing coordinate, fewer than two traced frames, an unreadable cfg...),
- the reader doubts its labels (`Problem.suspect`: a tracing with too few rows, ED/ES that
  contradict the masks), found while listing or while loading,
- it fails to load (`DataError`), or its loaded labels fail `label_problems` (no masks, an empty
  mask).
"""

from __future__ import annotations

from dataclasses import dataclass

from echoseg.data.readers.base import Problem
from echoseg.data.schema import EchoSample


@dataclass
class LeftOut:
    """A case training does not use, and why (one line, naming the file where there is one)."""

    case_id: str
    reason: str


# An LV cavity mask smaller than this many pixels is a collapsed outline (all tracing points on one spot),
# not a ventricle: the smallest real end-systolic LV covers hundreds of pixels even in EchoNet's 112x112 frames.
MIN_LV_PIXELS = 8
# An LV cavity covering more than this fraction of the frame is a tracing that runs off to the frame's edge:
# apical views show the LV beside three other chambers, so it never fills most of the image.
MAX_LV_FRACTION = 0.5


def _frames_text(frames: list[int]) -> str:
    return ", ".join(map(str, frames[:5])) + (f" and {len(frames) - 5} more" if len(frames) > 5 else "")


def label_problems(sample: EchoSample) -> list[str]:
    """What is wrong with a loaded sample's labels for supervision (empty list: nothing): no masks, an
    empty mask, or a mask whose area no LV has (`MIN_LV_PIXELS`, `MAX_LV_FRACTION`)."""
    if not sample.masks:
        return ["no ground-truth masks"]
    areas = {frame: int(mask.sum()) for frame, mask in sorted(sample.masks.items())}
    empty = [frame for frame, area in areas.items() if area == 0]
    if empty:
        return [f"empty ground-truth mask on frame(s) {_frames_text(empty)}"]
    problems = []
    tiny = [frame for frame, area in areas.items() if area < MIN_LV_PIXELS]
    if tiny:
        problems.append(f"implausible ground-truth area on frame(s) {_frames_text(tiny)}: under {MIN_LV_PIXELS} "
                        "pixels (a collapsed outline)")
    frame_pixels = next(iter(sample.masks.values())).size
    huge = [frame for frame, area in areas.items() if area > MAX_LV_FRACTION * frame_pixels]
    if huge:
        problems.append(f"implausible ground-truth area on frame(s) {_frames_text(huge)}: over "
                        f"{MAX_LV_FRACTION:.0%} of the frame")
    return problems


def describe(problem: Problem) -> str:
    """A reader's problem as one line naming its file."""
    return problem.problem if not problem.path or problem.path in problem.problem else f"{problem.path}: {problem.problem}"


def suspect_cases(problems: list[Problem]) -> dict[str, str]:
    """Case id -> why its labels are doubtful, from a reader's problems."""
    found: dict[str, str] = {}
    for problem in problems:
        if problem.suspect and problem.case_id and problem.case_id not in found:
            found[problem.case_id] = describe(problem)
    return found


def listing_left_out(source) -> list[LeftOut]:
    """Cases left out before any video is decoded: those listing skipped and those it doubts.

    `source` is a Reader (or anything with `records()`; sources without `skipped_cases` and
    `problems`, such as samples in memory, have none)."""
    skipped = getattr(source, "skipped_cases", None) or {}
    left = [LeftOut(case_id, describe(problem)) for case_id, problem in skipped.items()]
    listed = {record.case_id for record in source.records()}
    left += [LeftOut(case_id, reason) for case_id, reason in suspect_cases(getattr(source, "problems", [])).items()
             if case_id in listed]
    return left


def sample_left_out_reason(source, sample: EchoSample) -> str | None:
    """Why a loaded sample must not be trained on (its labels, or a doubt its reader raised while
    loading it), or None."""
    problems = label_problems(sample)
    doubted = suspect_cases(getattr(source, "problems", [])).get(sample.case_id)
    if doubted:
        problems.append(doubted)
    return "; ".join(problems) or None
