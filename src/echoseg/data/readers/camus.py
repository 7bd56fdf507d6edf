"""CAMUS reader: both releases, detected from the folder layout.

NIfTI release (current)::

    ROOT/database_nifti/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].nii.gz
                                    patientXXXX_{2CH,4CH}_half_sequence[_gt].nii.gz
                                    Info_{2CH,4CH}.cfg
    ROOT/database_split/subgroup_{training,validation,testing}.txt   (patient names, one a line)

Original MetaImage release::

    ROOT/{training,testing}/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].mhd (+ .raw)
                                        patientXXXX_{2CH,4CH}_sequence.mhd, Info_{2CH,4CH}.cfg

A case is one patient and one view (`patient0001_4CH`). The video is the (half) sequence when it
exists, else the ED and ES frames as a two-frame video. Labels: 0 background, 1 LV cavity,
2 myocardium, 3 left atrium; `masks` are label == 1 on every frame with ground truth (every frame of
the half sequence when its gt exists) and `labels` keep the full maps.

Orientation: `Info_*.cfg` gives ED and ES as 1-based indices into the sequence. A sequence whose ED
index is larger than its ES index is stored ES->ED; it is reversed (video and gt together, index t
becoming T-1-t) so every sample runs ED->ES. When gt exists for every frame, an ED mask smaller than
the ES mask after orientation is reported as a problem (the cfg and the images disagree).

Files are decoded by `echoseg.data.files` (shared with inference): nibabel (x, y[, t]) and SimpleITK
(t, y, x) arrays both become (T, H, W) = (t, y, x) with a spacing of (dy, dx) mm. MetaImage needs
SimpleITK, the optional extra `echoseg[mhd]`, imported only when an .mhd file is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoseg.data.files import Image, read_metaimage, read_nifti, to_uint8
from echoseg.data.readers.base import Problem, Reader
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import DataError

VIEWS = ("2CH", "4CH")
LV_LABEL = 1
MAX_LABEL = 3
SPLIT_LISTS = {"training": "train", "validation": "val", "testing": "test"}
RELEASE_FOLDERS = {"training": "train", "testing": "test"}
EXTENSIONS = {"nifti": ".nii.gz", "mhd": ".mhd"}
SEQUENCE_KINDS = ("half_sequence", "sequence")


# --- image files ------------------------------------------------------------------------------


def read_image(path: Path) -> Image:
    return read_metaimage(path) if path.suffix == ".mhd" else read_nifti(path)


def _squeeze_frame(array: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) from a single-frame image stored as (H, W) or (1, H, W)."""
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise DataError(path, f"expected a single 2-D frame, got shape {array.shape}")
    return array


def _as_labels(array: np.ndarray, path: Path) -> np.ndarray:
    """Ground-truth label map(s) as uint8, checked to hold integers 0..3."""
    values = np.asarray(array)
    if not np.issubdtype(values.dtype, np.integer):
        if not np.all(np.isfinite(values)) or not np.array_equal(values, np.rint(values)):
            raise DataError(path, "ground truth has non-integer labels")
    if values.size and (values.min() < 0 or values.max() > MAX_LABEL):
        raise DataError(path, f"ground truth labels must be 0..{MAX_LABEL}, found {values.min()}..{values.max()}")
    return values.astype(np.uint8)


# --- Info cfg ---------------------------------------------------------------------------------


def parse_cfg(path: Path) -> dict[str, str]:
    """`key: value` lines of an Info_*.cfg file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror})") from exc
    entries = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            entries[key.strip()] = value.strip()
    return entries


def _cfg_number(entries: dict[str, str], *keys: str) -> float | None:
    for key in keys:
        try:
            return float(entries[key])
        except (KeyError, ValueError):
            continue
    return None


def cfg_ed_es(entries: dict[str, str], path: Path) -> tuple[int, int]:
    """ED and ES as 1-based indices from a cfg; DataError naming the file when absent or not integers."""
    missing = [key for key in ("ED", "ES") if key not in entries]
    if missing:
        raise DataError(path, f"no {' or '.join(missing)} entry (1-based frame index) in the cfg")
    try:
        ed, es = int(entries["ED"]), int(entries["ES"])
    except ValueError as exc:
        raise DataError(path, f"ED {entries['ED']!r} / ES {entries['ES']!r} are not frame numbers") from exc
    if ed < 1 or es < 1:
        raise DataError(path, f"ED {ed} / ES {es} must be 1-based frame numbers")
    return ed, es


# --- the reader -------------------------------------------------------------------------------


@dataclass
class _Case:
    record: CaseRecord
    folder: Path
    cfg: Path


class CamusReader(Reader):
    """CAMUS dataset at `root` (a folder holding `database_nifti/`, `training/`/`testing/`, or the
    patient folders themselves).

    views:   which views make cases ("2CH", "4CH").
    release: "auto" (from the layout), "nifti" or "mhd".

    After listing: `problems`, `release`, and `reversed_cases` (case ids whose cfg says the
    sequence is stored ES->ED; they are reversed on load).
    """

    format_name = "camus"

    def __init__(self, root: str | Path, views: tuple[str, ...] | list[str] = VIEWS, release: str = "auto"):
        super().__init__(root)
        views = tuple(str(view).upper() for view in views)
        unknown = [view for view in views if view not in VIEWS]
        if unknown or not views:
            raise ValueError(f"unknown CAMUS view(s) {unknown or views}; valid views: {list(VIEWS)}")
        if release not in ("auto", *EXTENSIONS):
            raise ValueError(f"unknown CAMUS release {release!r}; valid: auto, nifti, mhd")
        self.views = views
        self.requested_release = release
        self.release: str | None = None
        self.reversed_cases: list[str] = []
        self._cases: dict[str, _Case] | None = None
        self._skipped: dict[str, Problem] = {}
        self._listings: dict[Path, dict[str, str]] = {}

    # layout -------------------------------------------------------------------------------------

    def _detect(self) -> tuple[str, list[tuple[Path, str | None]]]:
        """Release and the patient folders with the split their location implies."""
        if not self.root.is_dir():
            raise DataError(self.root, "dataset folder not found")
        nifti_dir = self.root / "database_nifti"
        release_dirs = [(self.root / name, split) for name, split in RELEASE_FOLDERS.items() if (self.root / name).is_dir()]
        release = self.requested_release
        if release == "auto":
            if nifti_dir.is_dir() or any(self.root.glob("patient*/*.nii.gz")):
                release = "nifti"
            elif release_dirs or any(self.root.glob("patient*/*.mhd")):
                release = "mhd"
            else:
                raise DataError(self.root, "no CAMUS layout found (expected database_nifti/, training/ or testing/, "
                                "or patient folders with .nii.gz or .mhd files)")
        if release == "nifti":
            data_dirs = [(nifti_dir if nifti_dir.is_dir() else self.root, None)]
        else:
            data_dirs = release_dirs or [(self.root, None)]
        patients = [
            (folder, split)
            for data_dir, split in data_dirs
            for folder in sorted(data_dir.glob("patient*"))
            if folder.is_dir()
        ]
        return release, patients

    def _split_lists(self) -> dict[str, str]:
        """patient -> split from database_split/subgroup_*.txt (NIfTI release), empty when absent."""
        for folder in (self.root / "database_split", self.root.parent / "database_split"):
            if folder.is_dir():
                break
        else:
            return {}
        splits: dict[str, str] = {}
        for name, split in SPLIT_LISTS.items():
            path = folder / f"subgroup_{name}.txt"
            if not path.is_file():
                self._problem(path, "split list missing")
                continue
            for patient in path.read_text(encoding="utf-8", errors="replace").split():
                if patient in splits and splits[patient] != split:
                    self._problem(path, f"{patient} is also in the {splits[patient]} list (kept there)")
                    continue
                splits[patient] = split
        return splits

    # listing ------------------------------------------------------------------------------------

    def records(self) -> list[CaseRecord]:
        return [case.record for case in self._index().values()]

    def _problem(self, path: Path, problem: str, case_id: str | None = None) -> Problem:
        found = Problem(str(path), problem, case_id)
        self.problems.append(found)
        return found

    def _index(self) -> dict[str, _Case]:
        if self._cases is not None:
            return self._cases
        self.release, patients = self._detect()
        listed_splits = self._split_lists() if self.release == "nifti" else {}
        extension = EXTENSIONS[self.release]
        cases: dict[str, _Case] = {}
        for folder, folder_split in patients:
            patient = folder.name
            split = listed_splits.get(patient, folder_split)
            if listed_splits and patient not in listed_splits:
                self._problem(folder, "patient in no database_split list (split unknown)", patient)
            for view in self.views:
                case_id = f"{patient}_{view}"
                cfg = self._entry(folder, f"Info_{view}.cfg")
                if cfg is None:
                    cfg = folder / f"Info_{view}.cfg"
                    prefix = f"{patient}_{view}_".lower()
                    if any(n.startswith(prefix) and n.endswith(extension) for n in self._listing(folder)):
                        self._skipped[case_id] = self._problem(cfg, "Info cfg missing (case skipped)", case_id)
                    continue
                try:
                    record = self._record(case_id, patient, view, split, cfg)
                except DataError as exc:
                    self._skipped[case_id] = self._problem(exc.path, f"{exc.problem} (case skipped)", case_id)
                    continue
                cases[case_id] = _Case(record=record, folder=folder, cfg=cfg)
        self._cases = cases
        return cases

    def _record(self, case_id: str, patient: str, view: str, split: str | None, cfg: Path) -> CaseRecord:
        entries = parse_cfg(cfg)
        ed, es = cfg_ed_es(entries, cfg)
        if ed > es:
            self.reversed_cases.append(case_id)
        n_frames = _cfg_number(entries, "NbFrame")
        return CaseRecord(
            case_id=case_id,
            patient_id=patient,
            split=split,
            view=view,
            fps=_cfg_number(entries, "FrameRate"),
            n_frames=None if n_frames is None else int(n_frames),
            ef=_cfg_number(entries, "EF", "LVef"),
            edv=_cfg_number(entries, "LVedv", "EDV"),
            esv=_cfg_number(entries, "LVesv", "ESV"),
        )

    # loading ------------------------------------------------------------------------------------

    def _case(self, case_id: str) -> _Case:
        return self._lookup(self._index(), case_id, DataError(
            self.root, f"no case {case_id!r} (case ids look like patient0001_4CH; views {list(self.views)})"))

    def _listing(self, folder: Path) -> dict[str, str]:
        """{lower-case name: name} of a patient folder's files, listed once."""
        if folder not in self._listings:
            self._listings[folder] = {path.name.lower(): path.name for path in folder.iterdir() if path.is_file()}
        return self._listings[folder]

    def _entry(self, folder: Path, name: str) -> Path | None:
        """The file `name` in `folder`, its case ignored: exports write `4ch` as often as `4CH`."""
        found = self._listing(folder).get(name.lower())
        return None if found is None else folder / found

    def _file(self, case: _Case, kind: str) -> Path | None:
        record = case.record
        return self._entry(case.folder, f"{record.patient_id}_{record.view}_{kind}{EXTENSIONS[self.release]}")

    def load(self, case_id: str) -> EchoSample:
        case = self._case(case_id)
        record = case.record
        entries = parse_cfg(case.cfg)
        ed_1, es_1 = cfg_ed_es(entries, case.cfg)
        sequence_kind = next((kind for kind in SEQUENCE_KINDS if self._file(case, kind)), None)
        if sequence_kind is not None:
            video, labels, spacing, ed, es = self._load_sequence(case, sequence_kind, entries, ed_1, es_1)
        else:
            video, labels, spacing, ed, es = self._load_ed_es_frames(case)
        if labels and all(index in labels for index in range(len(video))):
            ed_area, es_area = int((labels[ed] == LV_LABEL).sum()), int((labels[es] == LV_LABEL).sum())
            if ed_area < es_area:
                self.problems.append(Problem(str(case.cfg), f"ED mask ({ed_area} px) smaller than ES mask "
                                             f"({es_area} px): cfg ED/ES and images disagree", case_id, suspect=True))
        masks = {index: label == LV_LABEL for index, label in labels.items()}
        return EchoSample.from_record(record, video=video, masks=masks, labels=labels, ed=ed, es=es, spacing_mm=spacing)

    def _load_sequence(self, case: _Case, kind: str, entries: dict[str, str], ed_1: int, es_1: int):
        """Video (T, H, W) from the (half) sequence, gt on every frame or on ED/ES, oriented ED->ES."""
        path = self._file(case, kind)
        image = read_image(path)
        video = image.array
        if video.ndim == 2:
            video = video[None]
        if video.ndim != 3:
            raise DataError(path, f"expected a 2-D+t sequence, got shape {image.array.shape}")
        video = to_uint8(video, path)
        n_frames = len(video)
        declared = _cfg_number(entries, "NbFrame")
        if declared is not None and int(declared) != n_frames:
            raise DataError(case.cfg, f"NbFrame {int(declared)} but {path.name} has {n_frames} frames")
        for name, index in (("ED", ed_1), ("ES", es_1)):
            if index > n_frames:
                raise DataError(case.cfg, f"{name} {index} beyond the {n_frames} frames of {path.name}")
        ed, es = ed_1 - 1, es_1 - 1
        labels: dict[int, np.ndarray] = {}
        gt_path = self._file(case, f"{kind}_gt")
        if gt_path is not None:
            gt = read_image(gt_path).array
            if gt.ndim == 2:
                gt = gt[None]
            if gt.shape != video.shape:
                raise DataError(gt_path, f"gt shape {gt.shape} (T, H, W) does not match the sequence's {video.shape}")
            gt = _as_labels(gt, gt_path)
            labels = {index: gt[index] for index in range(n_frames)}
        else:
            for name, index in (("ED", ed), ("ES", es)):
                label = self._read_frame_gt(case, name, video.shape[1:])
                if label is not None:
                    labels[index] = label
        if ed > es:  # stored ES->ED: reverse so that time runs ED->ES
            video = np.ascontiguousarray(video[::-1])
            labels = {n_frames - 1 - index: label for index, label in labels.items()}
            ed, es = n_frames - 1 - ed, n_frames - 1 - es
        return video, dict(sorted(labels.items())), image.spacing_mm, ed, es

    def _load_ed_es_frames(self, case: _Case):
        """No sequence: the ED and ES images as a two-frame video (ED = 0, ES = 1)."""
        frames, spacing = [], None
        for name in ("ED", "ES"):
            path = self._file(case, name)
            if path is None:
                expected = case.folder / f"{case.record.case_id}_{name}{EXTENSIONS[self.release]}"
                raise DataError(expected, "image missing (and no sequence to take the frame from)")
            image = read_image(path)
            frame = to_uint8(_squeeze_frame(image.array, path), path)
            if frames and frame.shape != frames[0].shape:
                raise DataError(path, f"shape {frame.shape} differs from the ED image's {frames[0].shape}")
            frames.append(frame)
            spacing = spacing or image.spacing_mm
        labels = {}
        for index, name in enumerate(("ED", "ES")):
            label = self._read_frame_gt(case, name, frames[0].shape)
            if label is not None:
                labels[index] = label
        return np.stack(frames), labels, spacing, 0, 1

    def _read_frame_gt(self, case: _Case, name: str, shape: tuple[int, int]) -> np.ndarray | None:
        path = self._file(case, f"{name}_gt")
        if path is None:
            return None
        label = _squeeze_frame(read_image(path).array, path)
        if label.shape != tuple(shape):
            raise DataError(path, f"gt shape {label.shape} (H, W) does not match the image's {tuple(shape)}")
        return _as_labels(label, path)
