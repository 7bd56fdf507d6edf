"""issue 26 items 7 and 18: non-finite weights are refused at load, and the NaN-loss message gives
advice that works."""

from __future__ import annotations

import pytest
import torch

from echoseg.models.checkpoint import save_model
from echoseg.models.weights_files import find_weights
from inference_support import TINY_MODEL_NAME, TinyDarkNet, beating_video, one_torch_thread, register_tiny_model  # noqa: F401
from test_data_cli import _run
from test_data_inputs import _write_cv2

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def nan_weights(tmp_path):
    register_tiny_model()
    model = TinyDarkNet(window=3)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    save_model(path, model, TINY_MODEL_NAME, {"window": 3}, extra={"input_size": [32, 32]})
    return path


def test_predict_with_nan_weights_refuses_with_one_line_instead_of_empty_masks(nan_weights, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    _write_cv2(tmp_path / "in" / "a.avi", beating_video(frames=12, size=(32, 32))[0])
    code, out, err = _run(["predict", str(tmp_path / "in"), "--checkpoint", str(nan_weights),
                           "--out", str(tmp_path / "pred"), "--no-progress"], capsys)
    assert code == 2, (out, err)
    line = err.strip()
    assert "\n" not in line and str(nan_weights) in line and "NaN or infinite" in line
    assert not (tmp_path / "pred" / "a" / "masks.npz").exists()


def test_nan_init_weights_are_named_not_the_learning_rate(nan_weights, tmp_path):
    from echoseg.errors import CheckpointError
    from echoseg.models.checkpoint import load_initial_weights

    with pytest.raises(CheckpointError, match="non-finite") as info:
        load_initial_weights(TinyDarkNet(window=3), nan_weights, TINY_MODEL_NAME, {"window": 3})
    assert str(nan_weights) in str(info.value) and "optim.lr" not in str(info.value)


def test_nan_loss_advice_is_a_new_run_from_the_last_weights_not_resume(tmp_path):
    from echoseg.training import TrainingDiverged
    from test_trainer import NaNAfter, tiny_train

    with pytest.raises(TrainingDiverged) as info:
        tiny_train(tmp_path / "nan", steps=8, model=NaNAfter(), extra=["mean_teacher.student_batchnorm=joint"])
    message = str(info.value)
    last = tmp_path / "nan" / "checkpoints" / "last"
    assert "--resume" not in message and f"--init {last}" in message and "another --out" in message
    assert find_weights(last).is_file()  # the advised --init value is one that --init accepts
