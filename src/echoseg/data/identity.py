"""The identity of a dataset on disk: where it is and what it holds, so a resumed training run can
tell its own data from other data.

The fingerprint covers every file's relative path and size and the full content of the tables
(.csv, .cfg, .txt, .json, .yaml: case lists, tracings, splits, reference values). It leaves out
modification times and the absolute path, so a copied or moved dataset is the same dataset, while a
dataset rewritten in place (`echoseg synth` into the same folder) or another one is not.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

TABLE_SUFFIXES = {".csv", ".cfg", ".txt", ".json", ".yaml", ".yml"}
MAX_TABLE_BYTES = 256 * 2**20  # a table larger than this is counted by size only


def dataset_identity(root: str | Path, data_format: str, exclude: list[str | Path] = ()) -> dict:
    """{"path": absolute root, "format", "fingerprint": 16 hex digits, "files": count}.

    exclude: folders inside `root` that are not part of the dataset (a run folder placed inside it).
    Hidden files and folders are skipped."""
    root = Path(root).resolve()
    skip = {Path(p).resolve() for p in exclude}
    digest = hashlib.sha256(f"{data_format}\n".encode())
    n_files = 0
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and (here / d).resolve() not in skip)
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
