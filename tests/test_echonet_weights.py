"""EchoNet-Dynamic's released segmentation weights: `echoseg import-weights echonet-dynamic` reads a
checkpoint saved the way EchoNet saves it, checks it, and gives the same logits as torchvision's
DeepLabV3-ResNet-50 with those weights; bad checkpoints give one clear line; predict runs on it."""

from __future__ import annotations

import argparse
import json
import sys
import types

import numpy as np
import pytest
import torch

from echoseg.cli import main as cli_main
from echoseg.data.synthetic.generator import generate_video
from echoseg.data.synthetic.writers import write_avi
from echoseg.models.baselines.deeplabv3 import EchoNetDeepLabV3
from echoseg.models.checkpoint import load_model
from inference_support import one_torch_thread  # noqa: F401 (fixture, used through pytestmark)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def torchvision_deeplabv3():
    """torchvision's deeplabv3_resnet50 as EchoNet-Dynamic builds it, or skip where torchvision is absent.

    The only torchvision wheel installable beside a CPU-only torch here is CUDA-linked: its compiled
    ops fail to load, and `import torchvision` then fails registering their meta kernels. The network
    itself is pure Python, so the test stubs that one module to reach it (test-only)."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        pytest.skip("torchvision is not installed")
    except RuntimeError:
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    from torchvision.models.segmentation import deeplabv3_resnet50

    model = deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False)
    last = model.classifier[-1]
    model.classifier[-1] = torch.nn.Conv2d(last.in_channels, 1, kernel_size=last.kernel_size)  # as EchoNet does
    return model


def save_like_echonet(path, state_dict, **extra):
    """EchoNet-Dynamic's checkpoint: a dict with epoch, a DataParallel state dict, optimizer and scheduler."""
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.SGD(params, lr=1e-5, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 15)
    torch.save({"epoch": 4, "state_dict": {f"module.{k}": v for k, v in state_dict.items()},
                "opt_dict": optimizer.state_dict(), "scheduler_dict": scheduler.state_dict(), "best_loss": 0.08,
                "loss": 0.09, **extra}, path)
    return path


@pytest.fixture(scope="module")
def echonet_state():
    """A random EchoNet-layout state dict (our network has torchvision's names and shapes)."""
    torch.manual_seed(1)
    return {k: v for k, v in EchoNetDeepLabV3().state_dict().items() if not k.startswith("pixel_")}


def _import(checkpoint, out, *extra):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["import-weights", "echonet-dynamic", str(checkpoint), "--out", str(out), *extra])
    return exit_info.value.code


def test_imported_weights_give_torchvisions_logits(tmp_path, capsys):
    reference = torchvision_deeplabv3().eval()
    checkpoint = save_like_echonet(tmp_path / "deeplabv3_resnet50_random.pt", reference.state_dict())
    assert _import(checkpoint, tmp_path / "echonet.safetensors") == 0
    assert "wrote" in capsys.readouterr().out
    model, info = load_model(tmp_path / "echonet.safetensors")
    assert info.model == "echonet_deeplabv3" and info.extra["input_size"] == [112, 112]
    assert info.extra["mask_rule"] == {"threshold": 0.5, "clean": False}
    frames = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        ours = model.eval()(frames)
        theirs = reference(model.normalized_rgb(frames))["out"]
    assert ours.shape == theirs.shape == (2, 1, 64, 64)
    assert (ours - theirs).abs().max().item() < 1e-5


def test_the_normalisation_is_the_one_given(tmp_path, echonet_state):
    checkpoint = save_like_echonet(tmp_path / "ck.pt", echonet_state)
    assert _import(checkpoint, tmp_path / "w.safetensors", "--mean", "10", "20", "30", "--std", "1", "2", "4") == 0
    model, info = load_model(tmp_path / "w.safetensors")
    assert model.pixel_mean.tolist() == [10, 20, 30] and info.extra["normalisation"]["std"] == [1, 2, 4]
    rgb = model.normalized_rgb(torch.full((1, 1, 16, 16), 0.2))  # 51 in 0-255
    assert rgb[0, :, 0, 0].tolist() == pytest.approx([41.0, 15.5, 5.25])


@pytest.mark.parametrize("damage, message", [
    ("missing", "1 key(s) missing, first 'classifier.4.bias'"),
    ("shape", "classifier.4.weight has shape (3, 256, 1, 1)"),
    ("pickled", "holds pickled Python objects"),
    ("not_a_checkpoint", "not a readable PyTorch checkpoint"),
])
def test_bad_checkpoints_give_one_clear_line(tmp_path, echonet_state, capsys, damage, message):
    state = dict(echonet_state)
    path = tmp_path / "ck.pt"
    if damage == "missing":
        del state["classifier.4.bias"]
        save_like_echonet(path, state)
    elif damage == "shape":
        state["classifier.4.weight"] = torch.zeros(3, 256, 1, 1)
        save_like_echonet(path, state)
    elif damage == "pickled":
        save_like_echonet(path, state, args=argparse.Namespace(lr=1e-5))  # a pickled object beside the tensors
    else:
        path.write_bytes(b"not a checkpoint")
    assert _import(path, tmp_path / "w.safetensors") == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w.safetensors").exists()


def test_existing_output_is_kept_without_overwrite(tmp_path, echonet_state, capsys):
    checkpoint = save_like_echonet(tmp_path / "ck.pt", echonet_state)
    out = tmp_path / "w.safetensors"
    out.write_text("mine")
    assert _import(checkpoint, out) == 2 and "--overwrite" in capsys.readouterr().err and out.read_text() == "mine"
    assert _import(checkpoint, out, "--overwrite") == 0 and load_model(out)[1].model == "echonet_deeplabv3"


def test_predict_runs_on_an_imported_model(tmp_path, echonet_state):
    checkpoint = save_like_echonet(tmp_path / "ck.pt", echonet_state)
    assert _import(checkpoint, tmp_path / "w.safetensors") == 0
    video = generate_video(2, frames=20, difficulty="realistic").sample.video
    write_avi(tmp_path / "clip.avi", video, fps=50.0)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", str(tmp_path / "clip.avi"), "--checkpoint", str(tmp_path / "w.safetensors"), "--out",
                  str(tmp_path / "out"), "--engine", "torch", "--no-overlay", "--no-progress", "--batch-size", "4"])
    assert exit_info.value.code == 0
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["model"] == "echonet_deeplabv3" and record["input_size"] == [112, 112]
    masks = np.load(tmp_path / "out" / "clip" / "masks.npz")["masks"]
    assert masks.shape == video.shape
