"""The identity of a dataset on disk: where it is and what it holds, so a resumed training run can
tell its own data from other data.

The fingerprint covers every file's relative path and size and the full content of the tables
(.csv, .cfg, .txt, .json, .yaml: case lists, tracings, splits, reference values). It leaves out
modification times and the absolute path, so a copied or moved dataset is the same dataset, while a
dataset rewritten in place (`echoseg synth` into the same folder) or another one is not.

Folders holding echoseg's own outputs (`echoseg_output`: a predict run, a predicted video, a training
run, an evaluation) are not part of a dataset: the fingerprint leaves them out, and predict does not
read their overlay videos as inputs. No command writes inside a dataset it reads any more; these
are outputs an older version, or a user, put there, and a rerun of them must not make a resumed
training run refuse its own data. Any other file added, removed or changed still changes the
fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TABLE_SUFFIXES = {".csv", ".cfg", ".txt", ".json", ".yaml", ".yml"}
MAX_TABLE_BYTES = 256 * 2**20  # a table larger than this is counted by size only

# The files that mark a folder as echoseg's output: predict writes PREDICT_RUN_RECORD into its --out
# and PREDICTED_VIDEO_MARKER last into each video's folder.
PREDICT_RUN_RECORD = "run.json"
PREDICTED_VIDEO_MARKER = "done.json"


def _json_keys(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def echoseg_output(folder: str | Path) -> str | None:
    """What echoseg output `folder` holds ("a predict run", "a predicted video", "a training run",
    "an evaluation"), or None. Recognised by what echoseg writes there, read far enough to tell it
    from a user's file of the same name (a run.json of another tool is not ours)."""
    folder = Path(folder)
    if (folder / PREDICTED_VIDEO_MARKER).is_file() and {"finished", "input"} <= _json_keys(
            folder / PREDICTED_VIDEO_MARKER):
        return "a predicted video"
    if (folder / PREDICT_RUN_RECORD).is_file() and "echoseg" in _json_keys(folder / PREDICT_RUN_RECORD):
        return "a predict run"
    if (folder / "config.yaml").is_file() and "fingerprint" in _json_keys(folder / "dataset.json"):
        return "a training run"
    if (folder / "metrics.json").is_file() and (folder / "report.html").is_file():
        return "an evaluation"
    return None


def dataset_identity(root: str | Path, data_format: str, exclude: list[str | Path] = ()) -> dict:
    """{"path": absolute root, "format", "fingerprint": 16 hex digits, "files": count}.

    exclude: folders inside `root` that are not part of the dataset (a run folder placed inside it).
    Hidden files and folders, and folders of echoseg's outputs (`echoseg_output`), are skipped."""
    root = Path(root).resolve()
    skip = {Path(p).resolve() for p in exclude}
    digest = hashlib.sha256(f"{data_format}\n".encode())
    n_files = 0
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and (here / d).resolve() not in skip
                               and not _is_output(here / d))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = here / name
            try:
                size = path.stat().st_size
            except OSError:  # a dangling link
                continue
            digest.update(f"{path.relative_to(root).as_posix()}\t{size}\n".encode("utf-8", "surrogateescape"))
            if path.suffix.lower() in TABLE_SUFFIXES and size <= MAX_TABLE_BYTES:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            n_files += 1
    return {"path": str(root), "format": data_format, "fingerprint": digest.hexdigest()[:16], "files": n_files}


def _is_output(folder: Path) -> bool:
    kind = echoseg_output(folder)
    if kind is not None:
        log.info("%s: holds %s of echoseg's, not data: left out of the dataset's fingerprint", folder, kind)
    return kind is not None
