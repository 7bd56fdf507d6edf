"""The demo's guard against mixing runs (the full demo is `make demo`, timed in benchmarks/RESULTS.md)."""

import pytest

from echoseg.errors import EchosegError
from echoseg.workflows.demo import DemoSettings, _check_same_settings


def test_demo_refuses_to_reuse_a_folder_with_other_settings(tmp_path):
    _check_same_settings(tmp_path, DemoSettings(out=tmp_path, videos=12, seed=0))
    _check_same_settings(tmp_path, DemoSettings(out=tmp_path, videos=12, seed=0))  # same: resumes
    with pytest.raises(EchosegError, match="seed, videos"):
        _check_same_settings(tmp_path, DemoSettings(out=tmp_path, videos=100, seed=1))


@pytest.mark.slow
def test_demo_with_predict_zero_skips_predict_and_still_writes_the_report(tmp_path):
    from echoseg.workflows.demo import run_demo

    settings = DemoSettings(out=tmp_path / "demo", videos=8, frames=16, size=64, difficulty="easy", seed=0,
                            overrides=["optim.steps=2", "runtime.val_interval=2", "data.input_size=[32,32]"],
                            predict_count=0, progress=False)
    result = run_demo(settings)
    assert result.report.is_file()
    assert "skipped (--predict 0)" in result.report.read_text()
    assert not any((tmp_path / "demo" / "predict").glob("*")), "nothing may be predicted with --predict 0"
    assert "predict" not in result.seconds
