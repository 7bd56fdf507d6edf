"""Synthetic apical-4-chamber echo videos with exact truth, and writers for the EchoNet, CAMUS and native layouts."""

from echoseg.data.synthetic.generator import (
    SyntheticTruth,
    SyntheticVideo,
    assign_splits,
    generate_dataset,
    generate_video,
    iter_dataset,
    true_biplane_ef,
)
from echoseg.data.synthetic.imaging import DIFFICULTIES, PRESETS
from echoseg.data.synthetic.writers import tracing_rows, write_camus, write_echonet, write_synthetic

__all__ = [
    "DIFFICULTIES",
    "PRESETS",
    "SyntheticTruth",
    "SyntheticVideo",
    "assign_splits",
    "true_biplane_ef",
    "generate_dataset",
    "generate_video",
    "iter_dataset",
    "tracing_rows",
    "write_camus",
    "write_echonet",
    "write_synthetic",
]
