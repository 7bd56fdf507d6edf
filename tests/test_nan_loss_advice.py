"""issue 26 item 18: the NaN-loss message gives advice that works (weights holding NaN are refused at load:
test_refused_before_work)."""

from __future__ import annotations

import pytest

from echoseg.models.weights_files import find_weights
from inference_support import one_torch_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_nan_loss_advice_is_a_new_run_from_the_last_weights_not_resume(tmp_path):
    from echoseg.training import TrainingDiverged
    from test_trainer import NaNAfter, tiny_train

    with pytest.raises(TrainingDiverged) as info:
        tiny_train(tmp_path / "nan", steps=8, model=NaNAfter(), extra=["mean_teacher.student_batchnorm=joint"])
    message = str(info.value)
    last = tmp_path / "nan" / "checkpoints" / "last"
    assert "--resume" not in message and f"--init {last}" in message and "another --out" in message
    assert find_weights(last).is_file()  # the advised --init value is one that --init accepts
