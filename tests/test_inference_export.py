"""`echoseg export`: ONNX (checked in onnxruntime) and TorchScript files that reproduce PyTorch's logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echoseg.cli import main as cli_main
from echoseg.models.checkpoint import save_model
from inference_support import TINY_MODEL_NAME, TinyDarkNet, register_tiny_model


@pytest.fixture
def checkpoint(tmp_path):
    register_tiny_model()
    model = TinyDarkNet(window=3)
    return save_model(tmp_path / "model.safetensors", model, TINY_MODEL_NAME, {"window": 3, "width": 4},
                      extra={"input_size": [32, 48]}), model.eval()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_export_onnx_and_torchscript_match_pytorch(tmp_path, checkpoint, capsys):
    ort = pytest.importorskip("onnxruntime")
    path, model = checkpoint
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["export", "--checkpoint", str(path), "--onnx", str(tmp_path / "m.onnx"),
                  "--torchscript", str(tmp_path / "m.pt")])
    printed = capsys.readouterr().out
    assert exit_info.value.code == 0, printed
    assert "ONNX" in printed and "TorchScript" in printed and "input 1x3x32x48" in printed
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"frames": x.numpy()})[0]
    assert got.shape == (1, 1, 32, 48) and np.abs(got - expected).max() < 1e-4
    traced = torch.jit.load(str(tmp_path / "m.pt"))
    with torch.no_grad():
        assert np.abs(traced(x).numpy() - expected).max() < 1e-4


def test_export_rejects_sizes_the_model_cannot_take(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["export", "--checkpoint", str(path), "--onnx", str(tmp_path / "m.onnx"), "--size", "30", "48"])
    assert exit_info.value.code == 2 and "multiples of 16" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
