"""EchoNet-Dynamic reader: `FileList.csv`, `VolumeTracings.csv` and `Videos/*.avi` under one root.

Facts this reader relies on (see ARCHITECTURE.md):

- `FileList.csv` has `FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split`;
  `FileName` comes with `.avi` (older releases) or without it (current): both are accepted and the
  case id is always the name without `.avi`. `Split` TRAIN/VAL/TEST becomes train/val/test.
- `VolumeTracings.csv` has `FileName,X1,Y1,X2,Y2,Frame`, 21 rows per traced frame: the first row is
  the long axis, the other 20 are disk chords from apex to mitral valve. `Frame` is a 0-based index.
- The reference mask of a traced frame is the polygon `(X1[1:], Y1[1:])` followed by
  `(X2[1:], Y2[1:])` reversed, vertices rounded to the nearest pixel, filled with `cv2.fillPoly`
  (which includes the boundary pixels).
- ED is the traced frame with the larger mask area and ES the smaller: the listing order is not
  reliable (echonet/dynamic's loader assumes the last-listed frame is ED; in real files the first
  was the larger). Both orders are counted so a summary can report them.
- Videos are MJPG with three slightly different colour channels: every frame is converted to
  grayscale explicitly with `cv2.cvtColor(BGR2GRAY)` (by `echoseg.data.files.read_video_frames`).

Listing (`records`) reads the two CSV files and lists `Videos/` once; it never decodes a video.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from echoseg.data.files import read_video_frames
from echoseg.data.readers.base import Problem, Reader
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import DataError

FILELIST_COLUMNS = ("FileName", "EF", "ESV", "EDV", "FPS", "NumberOfFrames", "Split")
TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
SPLITS = {"TRAIN": "train", "VAL": "val", "TEST": "test"}
ROWS_PER_TRACED_FRAME = 21  # 1 long axis + 20 chords
MAX_CANVAS_SIDE = 1024  # pixels; tracings of a FileList without FrameHeight/FrameWidth are drawn on at most this


def strip_avi(name: str) -> str:
    """Case id from a FileName with or without the `.avi` suffix."""
    name = name.strip()
    return name[:-4] if name.lower().endswith(".avi") else name


# --- tracing geometry -------------------------------------------------------------------------


def tracing_polygon(rows: np.ndarray) -> np.ndarray:
    """Polygon of one traced frame: int32 (m, 2) (x, y) vertices, rounded to the nearest pixel.

    rows: float (n, 4) columns X1, Y1, X2, Y2; row 0 is the long axis and is not part of the outline.
    """
    rows = np.asarray(rows, dtype=float)
    side_1 = rows[1:, 0:2]
    side_2 = rows[1:, 2:4][::-1]
    return np.rint(np.concatenate([side_1, side_2])).astype(np.int32)


def _outline_area(rows: np.ndarray) -> float:
    """Area in square pixels of a traced frame's outline (the unrounded `tracing_polygon`), by the shoelace formula."""
    rows = np.asarray(rows, dtype=float)
    outline = np.concatenate([rows[1:, 0:2], rows[1:, 2:4][::-1]])
    x, y = outline[:, 0], outline[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def tracing_mask(rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled reference mask, bool (H, W), of one traced frame (rows as in `tracing_polygon`)."""
    canvas = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(canvas, [tracing_polygon(rows).reshape(-1, 1, 2)], 1)
    return canvas.astype(bool)


def tracing_volume(rows: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> float:
    """Monoplane method of disks from the tracing rows themselves: V = pi/4 * sum(d_i^2) * L / n.

    d_i are the lengths of the n chord rows (n = 20 in EchoNet), L the length of the long-axis row.
    Units: cubic pixels without spacing, else cubic millimetres (spacing (dy, dx) in mm).
    """
    rows = np.asarray(rows, dtype=float)
    dy, dx = spacing_mm if spacing_mm is not None else (1.0, 1.0)
    lengths = np.hypot((rows[:, 2] - rows[:, 0]) * dx, (rows[:, 3] - rows[:, 1]) * dy)
    long_axis, chords = lengths[0], lengths[1:]
    return float(math.pi / 4 * np.sum(chords**2) * long_axis / len(chords))


# --- the reader -------------------------------------------------------------------------------


@dataclass
class _Case:
    record: CaseRecord
    video_path: Path
    frame_height: int | None = None
    frame_width: int | None = None
    traces: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> (n, 4) rows, in listing order


class EchoNetReader(Reader):
    """EchoNet-Dynamic dataset at `root`.

    spacing_mm:       (dy, dx) in mm to attach to every sample (EchoNet gives none: default None,
                      distances are then in pixels).
    include_untraced: also list videos with fewer than two traced frames (for unlabeled training);
                      by default they are skipped and counted in `untraced`.

    After listing: `problems` (every Problem found), `untraced` (case ids skipped for fewer than two
    traced frames), `ed_listed_first` / `ed_listed_last` (case ids whose larger traced frame is
    listed first / last in VolumeTracings.csv; echonet/dynamic assumes last, so `ed_listed_first`
    are the disagreements with that convention).
    """

    format_name = "echonet"

    def __init__(
        self,
        root: str | Path,
        spacing_mm: tuple[float, float] | None = None,
        include_untraced: bool = False,
    ):
        super().__init__(root)
        self.spacing_mm = None if spacing_mm is None else (float(spacing_mm[0]), float(spacing_mm[1]))
        self.include_untraced = include_untraced
        self.filelist_path = self.root / "FileList.csv"
        self.tracings_path = self.root / "VolumeTracings.csv"
        self.videos_dir = self.root / "Videos"
        self.untraced: list[str] = []
        self.ed_listed_first: list[str] = []
        self.ed_listed_last: list[str] = []
        self._cases: dict[str, _Case] | None = None
        self._skipped: dict[str, Problem] = {}
        self._geometry_checked: set[tuple[str, int]] = set()

    # listing ------------------------------------------------------------------------------------

    def records(self) -> list[CaseRecord]:
        return [case.record for case in self._index().values()]

    @property
    def order_disagreements(self) -> list[str]:
        """Cases where the larger traced frame (ED) is not the last listed, as echonet/dynamic assumes."""
        self._index()
        return list(self.ed_listed_first)

    def _problem(self, path: Path, problem: str, case_id: str | None = None) -> Problem:
        found = Problem(str(path), problem, case_id)
        self.problems.append(found)
        return found

    def _skip(self, path: Path, problem: str, case_id: str) -> None:
        self._skipped[case_id] = self._problem(path, problem, case_id)

    def _index(self) -> dict[str, _Case]:
        if self._cases is not None:
            return self._cases
        if not self.root.is_dir():
            raise DataError(self.root, "dataset folder not found")
        cases = self._read_filelist()
        traces, broken = self._read_tracings(set(cases))
        if not self.videos_dir.is_dir():
            raise DataError(self.videos_dir, "Videos/ folder not found (is this an EchoNet-Dynamic folder?)")
        videos_on_disk = set(os.listdir(self.videos_dir))  # one listing, not one stat per case
        # FileList.csv names that differ from the files only in case (0X1A vs 0x1a.avi) name those files.
        by_lower_name = {name.lower(): name for name in videos_on_disk}
        usable: dict[str, _Case] = {}
        for case_id, case in cases.items():
            if case.video_path.name not in videos_on_disk and case.video_path.name.lower() in by_lower_name:
                case.video_path = self.videos_dir / by_lower_name[case.video_path.name.lower()]
            if case.video_path.name not in videos_on_disk:
                self._skip(case.video_path, "video listed in FileList.csv but the file is missing", case_id)
                continue
            if case_id in broken:
                self._skipped[case_id] = broken[case_id]
                continue
            case.traces = traces.get(case_id, {})
            if not self._check_traces(case):
                continue
            if len(case.traces) < 2:
                self.untraced.append(case_id)
                problem = f"{len(case.traces)} traced frame(s) in VolumeTracings.csv, need 2: no ED/ES masks"
                if self.include_untraced:
                    self._problem(self.tracings_path, problem + " (listed without masks)", case_id)
                else:
                    self._skip(self.tracings_path, problem + " (skipped)", case_id)
                    continue
            else:
                self._note_listing_order(case)
            usable[case_id] = case
        self._cases = usable
        return usable

    def _read_filelist(self) -> dict[str, _Case]:
        path = self.filelist_path
        if not path.is_file():
            raise DataError(path, "FileList.csv not found (is this an EchoNet-Dynamic folder?)")
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = [name.strip() for name in next(rows, [])]
            column = _columns(path, header, FILELIST_COLUMNS)
            numeric = {name: column[name] for name in ("EF", "ESV", "EDV", "FPS", "NumberOfFrames")}
            numeric.update({name: header.index(name) for name in ("FrameHeight", "FrameWidth") if name in header})
            cases: dict[str, _Case] = {}
            for line_no, row in enumerate(rows, start=2):
                if not row or not "".join(row).strip():
                    continue
                if len(row) < len(header):
                    self._problem(path, f"line {line_no}: {len(row)} fields, header has {len(header)} (row ignored)")
                    continue
                case_id = strip_avi(row[column["FileName"]])
                if case_id in cases:
                    self._problem(path, f"line {line_no}: {case_id} listed twice (first row kept)", case_id)
                    continue
                raw_split = row[column["Split"]].strip()
                split = SPLITS.get(raw_split.upper())  # `train` or `Train` mean TRAIN
                if split is None:
                    # Training would take a case without a split as a training case, a test case among them.
                    self._skip(path, f"line {line_no}: Split {raw_split!r} of {case_id} is not TRAIN, VAL or TEST "
                               "(any case; case skipped)", case_id)
                    continue

                values = {name: self._number(path, line_no, case_id, name, row[i]) for name, i in numeric.items()}
                record = CaseRecord(
                    case_id=case_id,
                    patient_id=case_id,  # one video per patient in EchoNet-Dynamic
                    split=split,
                    view="A4C",
                    fps=values["FPS"],
                    n_frames=_int_or_none(values["NumberOfFrames"]),
                    ef=values["EF"],
                    edv=values["EDV"],
                    esv=values["ESV"],
                )
                cases[case_id] = _Case(
                    record=record,
                    video_path=self.videos_dir / f"{case_id}.avi",
                    frame_height=_int_or_none(values.get("FrameHeight")),
                    frame_width=_int_or_none(values.get("FrameWidth")),
                )
        return cases

    def _number(self, path: Path, line_no: int, case_id: str, name: str, text: str) -> float | None:
        text = text.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            self._problem(path, f"line {line_no}: {name} {text!r} is not a number", case_id)
            return None
        return value if math.isfinite(value) else None

    def _read_tracings(self, listed: set[str]) -> tuple[dict[str, dict[int, np.ndarray]], dict[str, Problem]]:
        """Tracing rows grouped by case then frame (both in listing order); cases with bad rows apart."""
        path = self.tracings_path
        if not path.is_file():
            raise DataError(path, "VolumeTracings.csv not found (is this an EchoNet-Dynamic folder?)")
        grouped: dict[str, dict[int, list[list[float]]]] = {}
        broken: dict[str, Problem] = {}
        unlisted: dict[str, int] = {}
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = [name.strip() for name in next(rows, [])]
            column = _columns(path, header, TRACING_COLUMNS)
            i_name, i_frame = column["FileName"], column["Frame"]
            i_x1, i_y1, i_x2, i_y2 = (column[name] for name in ("X1", "Y1", "X2", "Y2"))
            case_ids: dict[str, str] = {}  # raw FileName -> case id; each name repeats 42 times
            for line_no, row in enumerate(rows, start=2):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                raw_name = row[i_name] if len(row) > i_name else ""
                case_id = case_ids.get(raw_name)
                if case_id is None:
                    case_id = case_ids[raw_name] = strip_avi(raw_name)
                if case_id not in listed:
                    unlisted.setdefault(case_id, line_no)
                    continue
                if case_id in broken:
                    continue
                try:
                    coords = [float(row[i_x1]), float(row[i_y1]), float(row[i_x2]), float(row[i_y2])]
                    frame = int(row[i_frame])
                    if not math.isfinite(sum(coords)):
                        raise ValueError("non-finite coordinate")
                except (ValueError, IndexError):
                    broken[case_id] = self._problem(
                        path, f"line {line_no}: bad tracing row {row!r} (case skipped)", case_id
                    )
                    continue
                grouped.setdefault(case_id, {}).setdefault(frame, []).append(coords)
        for case_id, line_no in unlisted.items():
            self._problem(path, f"line {line_no}: tracings for {case_id!r}, which is not in FileList.csv", case_id)
        traces = {
            case_id: {frame: np.asarray(rows, dtype=float) for frame, rows in frames.items()}
            for case_id, frames in grouped.items()
        }
        return traces, broken

    def _check_traces(self, case: _Case) -> bool:
        """Drop unusable traced frames; skip the case when a traced frame lies outside the video."""
        case_id = case.record.case_id
        n_frames = case.record.n_frames
        for frame, rows in list(case.traces.items()):
            if frame < 0 or (n_frames is not None and frame >= n_frames):
                self._skip(
                    self.tracings_path,
                    f"traced frame {frame} outside the video's {n_frames} frames (FileList.csv NumberOfFrames; case skipped)",
                    case_id,
                )
                return False
            if len(rows) < 3:
                self._problem(self.tracings_path, f"frame {frame}: {len(rows)} rows, too few for an outline (frame ignored)", case_id)
                del case.traces[frame]
            elif len(rows) != ROWS_PER_TRACED_FRAME:
                # The outline of a short tracing is a sliver of the LV: its area can swap ED and ES.
                self._doubt(case_id, frame, f"{len(rows)} rows, expected {ROWS_PER_TRACED_FRAME} (1 long axis + 20 chords)")
        if case.frame_height and case.frame_width:
            self._check_geometry(case, (case.frame_height, case.frame_width))
        return True

    def _doubt(self, case_id: str, frame: int, why: str) -> None:
        """A suspect problem: the frame's labels load as given, training and evaluation leave the case out."""
        self.problems.append(Problem(str(self.tracings_path), f"frame {frame}: {why} (labels doubtful: loaded as "
                                     "given, left out of training and evaluation)", case_id, suspect=True))

    def _check_geometry(self, case: _Case, shape: tuple[int, int]) -> None:
        """Doubt tracings no LV outline can have: points outside the frame (cv2 clips them to a band along
        the edge) and outlines of zero area (every point on one spot or line), once per case and frame."""
        case_id = case.record.case_id
        height, width = shape
        for frame, rows in case.traces.items():
            if (case_id, frame) in self._geometry_checked or len(rows) < 3:
                continue
            self._geometry_checked.add((case_id, frame))
            points = np.concatenate([rows[:, 0:2], rows[:, 2:4]])
            # Vertices are rounded to the nearest pixel, so up to one pixel beyond the border still lands on it.
            outside = (points[:, 0] < -1) | (points[:, 0] > width) | (points[:, 1] < -1) | (points[:, 1] > height)
            if outside.any():
                x, y = points[np.argmax(outside)]
                self._doubt(case_id, frame, f"tracing point ({x:g}, {y:g}) outside the {width}x{height} frame")
            elif _outline_area(rows) < 1.0:
                self._doubt(case_id, frame, "degenerate outline of zero area (all points on one spot or line)")

    def _note_listing_order(self, case: _Case) -> None:
        ed, _ = self._ed_es_from_traces(case, self._canvas_shape(case))
        listed = list(case.traces)
        (self.ed_listed_last if ed == listed[-1] else self.ed_listed_first).append(case.record.case_id)

    def _canvas_shape(self, case: _Case) -> tuple[int, int]:
        if case.frame_height and case.frame_width:
            return case.frame_height, case.frame_width
        extent = max(float(np.max(rows)) for rows in case.traces.values())
        # A stray coordinate (X1 = 1e6) must not size the canvas: points beyond it are clipped as on load.
        side = min(int(math.ceil(extent)) + 2, MAX_CANVAS_SIDE)
        return side, side

    @staticmethod
    def _ed_es_from_traces(case: _Case, shape: tuple[int, int]) -> tuple[int, int]:
        """ED = traced frame with the largest mask area, ES = the smallest other one (ties: listing order)."""
        areas = {frame: int(tracing_mask(rows, shape).sum()) for frame, rows in case.traces.items()}
        ed = max(areas, key=areas.__getitem__)
        es = min((frame for frame in areas if frame != ed), key=areas.__getitem__)
        return ed, es

    # loading ------------------------------------------------------------------------------------

    def _case(self, case_id: str) -> _Case:
        case_id = strip_avi(case_id)
        return self._lookup(self._index(), case_id,
                            DataError(self.filelist_path, f"no case {case_id!r} in FileList.csv"))

    def load(self, case_id: str) -> EchoSample:
        case = self._case(case_id)
        record = case.record
        video = read_video_frames(case.video_path).frames
        n_frames, height, width = video.shape
        for frame in case.traces:
            if frame >= n_frames:
                raise DataError(
                    self.tracings_path,
                    f"{record.case_id}: traced frame {frame} is beyond the {n_frames} frames of {case.video_path}",
                )
        self._check_geometry(case, (height, width))  # FileList.csv may not give the frame size
        masks = {frame: tracing_mask(rows, (height, width)) for frame, rows in case.traces.items()}
        ed = es = None
        if len(case.traces) >= 2:
            ed, es = self._ed_es_from_traces(case, (height, width))
        return EchoSample.from_record(record, video=video, masks=masks, ed=ed, es=es, spacing_mm=self.spacing_mm)

    # tracing-derived reference ------------------------------------------------------------------

    def traced_ed_es(self, case_id: str) -> tuple[int, int]:
        """(ED, ES) frame indices from the tracings alone (larger / smaller mask area)."""
        case = self._case(case_id)
        if len(case.traces) < 2:
            raise DataError(self.tracings_path, f"{case.record.case_id}: fewer than two traced frames")
        return self._ed_es_from_traces(case, self._canvas_shape(case))

    def tracing_volumes(self, case_id: str) -> tuple[float, float]:
        """(EDV, ESV) from the tracing rows (px^3, or ml when the reader has a spacing); no video decoded."""
        case = self._case(case_id)
        ed, es = self.traced_ed_es(case_id)
        scale = 1e-3 if self.spacing_mm is not None else 1.0
        return (
            tracing_volume(case.traces[ed], self.spacing_mm) * scale,
            tracing_volume(case.traces[es], self.spacing_mm) * scale,
        )

    def tracing_ef(self, case_id: str) -> float:
        """EF in percent from the tracing rows themselves (ED/ES chosen by mask area), no video decoded."""
        edv, esv = self.tracing_volumes(case_id)
        return float(100.0 * (edv - esv) / edv) if edv > 0 else float("nan")


def _columns(path: Path, header: list[str], required: tuple[str, ...]) -> dict[str, int]:
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}; found: {', '.join(header) or 'no header'}")
    return {name: header.index(name) for name in required}


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)
