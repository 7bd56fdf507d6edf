"""The demo's guard against mixing runs (the full demo is `make demo`, timed in benchmarks/RESULTS.md)."""

import pytest

from echoseg.errors import EchosegError
from echoseg.workflows.demo import DemoSettings, _check_same_settings


def test_demo_refuses_to_reuse_a_folder_with_other_settings(tmp_path):
    _check_same_settings(tmp_path, DemoSettings(out=tmp_path, videos=12, seed=0))
    _check_same_settings(tmp_path, DemoSettings(out=tmp_path, videos=12, seed=0))  # same: resumes
    with pytest.raises(EchosegError, match="seed, videos"):
        _check_same_settings(tmp_path, DemoSettings(out=tmp_path, videos=100, seed=1))
