"""ONNX export of a registered network at a fixed input size (batch 1 by default)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn as nn

from echoseg.io import atomic_path
from echoseg.models.network import check_spatial


def export_onnx(model: nn.Module, path: str | Path, *, height: int, width: int, batch: int = 1,
                opset: int = 17) -> Path:
    """Write `model` as ONNX: input "frames" float (batch, k, height, width) in [0, 1], output "logits"
    (batch, 1, height, width). Shapes are static (the ASSC pooling bins depend on them).
    Uses the TorchScript-based exporter (needs only the `onnx` package).
    """
    check_spatial(height, width)
    path = Path(path)
    model = model.eval()
    example = torch.rand(batch, model.window, height, width, device=next(model.parameters()).device)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # the torch.export-based exporter needs `onnxscript`, which the onnx extra does not pull in
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), str(tmp), dynamo=False, input_names=["frames"],
                          output_names=["logits"], opset_version=opset)
    return path
