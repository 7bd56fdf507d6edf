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


def open_dataset(root: str | Path, format: str, *, crop_to_fan: bool = False, **options) -> Reader:
    """Open the dataset at `root` with the reader for `format` (one of READERS).

    crop_to_fan: cut every sample to its ultrasound fan, as predict does for scanner exports
    (`echoseg.data.readers.fan_crop`); samples already cropped to their fan are left as they are.
    """
    if format not in READERS:
        raise ValueError(f"unknown data format {format!r}; valid formats: {sorted(READERS)}")
    module_name, class_name = READERS[format].split(":")
    reader_cls = getattr(importlib.import_module(module_name), class_name)
    reader = reader_cls(root, **options)
    if crop_to_fan:
        from echoseg.data.readers.fan_crop import FanCroppedReader

        reader = FanCroppedReader(reader)
    return reader


__all__ = ["READERS", "Problem", "Reader", "open_dataset"]
