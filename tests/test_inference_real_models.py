"""The inference path with the registered networks (untrained: plumbing, not accuracy)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from echoseg.cli import main as cli_main
from echoseg.inference.export import export_onnx, export_torchscript
from echoseg.inference.segmenter import Segmenter
from echoseg.models.checkpoint import save_model
from echoseg.models.registry import create_model
from echoseg.models.video import predict_video_probs
from inference_support import (
    beating_video,
    one_torch_thread,  # noqa: F401 (fixture, used through pytestmark)
)
from test_data_inputs import _write_cv2

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(name: str, window: int = 3):
    torch.manual_seed(0)
    return create_model(name, width=0.125, window=window).eval()


@pytest.mark.parametrize("name,window", [("sscf", 3), ("baseline", 3), ("unet", 1), ("sscf", 5)])
def test_streaming_equals_offline_for_registered_networks(name, window):
    model = _tiny(name, window)
    video, _, _, _ = beating_video(frames=7, size=(32, 32), period=4, phase=1)
    offline = predict_video_probs(model, video, batch_size=3)  # batches split windows: feature cache path
    stream = Segmenter(model, video.shape[1:]).stream()
    outs = [o for o in map(stream.push, video) if o is not None] + stream.flush()
    assert [o.index for o in outs] == list(range(7))
    np.testing.assert_allclose(np.stack([o.probs for o in outs]), offline, atol=1e-5)


def test_predict_cli_end_to_end_with_sscf_checkpoint(tmp_path):
    model = _tiny("sscf")
    save_model(tmp_path / "run" / "model.safetensors", model, "sscf", {"width": 0.125, "window": 3},
               extra={"input_size": [32, 32]})
    (tmp_path / "in").mkdir()
    for i in range(2):
        _write_cv2(tmp_path / "in" / f"v{i}.avi", beating_video(frames=12, size=(32, 32), period=6, phase=2, seed=i)[0])
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", str(tmp_path / "in"), "--checkpoint", str(tmp_path / "run"), "--out",
                  str(tmp_path / "out"), "--no-progress", "--batch-size", "5"])
    assert exit_info.value.code == 0
    with open(tmp_path / "out" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["v0", "v1"] and all(r["frames"] == "12" for r in rows)
    masks = np.load(tmp_path / "out" / "v0" / "masks.npz")["masks"]
    assert masks.shape == (12, 32, 32)


@pytest.mark.slow  # tracing the full network takes 10-40 s on the shared 2-core machine
def test_sscf_exports_to_onnx_and_torchscript(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _tiny("sscf")
    assert export_onnx(model, tmp_path / "sscf.onnx", (32, 48)) < 1e-4
    assert export_torchscript(model, tmp_path / "sscf.pt", (32, 48)) < 1e-4


def test_load_segmenter_folds_batchnorm_without_changing_outputs(tmp_path):
    from echoseg.inference.segmenter import load_segmenter
    from echoseg.models.checkpoint import load_model

    model = create_model("sscf", width=0.125, window=3)
    model.train()
    with torch.no_grad():  # move BatchNorm running statistics away from their defaults
        for _ in range(3):
            model(torch.rand(2, 3, 32, 32))
    save_model(tmp_path / "model.safetensors", model, "sscf", {"width": 0.125, "window": 3},
               extra={"input_size": [32, 32]})
    plain, _ = load_model(tmp_path / "model.safetensors")
    segmenter = load_segmenter(tmp_path)
    folded = segmenter.model
    assert segmenter.input_size == (32, 32) and segmenter.weights.model == "sscf"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), plain(x), rtol=1e-4, atol=1e-4)
