"""Readers by format name. Modules are imported on demand so optional dependencies stay optional."""

from __future__ import annotations

import importlib
from pathlib import Path

from echoseg.data.readers.base import Problem, Reader

READERS = {
    "echonet": "echoseg.data.readers.echonet:EchoNetReader",
    "camus": "echoseg.data.readers.camus:CamusReader",
    "synthetic": "echoseg.data.readers.synthetic:SyntheticReader",
}


def open_dataset(root: str | Path, format: str, **options) -> Reader:
    """Open the dataset at `root` with the reader for `format` (one of READERS)."""
    if format not in READERS:
        raise ValueError(f"unknown data format {format!r}; valid formats: {sorted(READERS)}")
    module_name, class_name = READERS[format].split(":")
    reader_cls = getattr(importlib.import_module(module_name), class_name)
    return reader_cls(root, **options)


__all__ = ["READERS", "Problem", "Reader", "open_dataset"]
