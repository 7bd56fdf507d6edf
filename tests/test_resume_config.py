"""Resuming a run made by an older echoseg: settings added since then are not changes when they keep
their default (the old run behaved as the default does)."""

from __future__ import annotations

import pytest

from echoseg.config import ConfigError, to_dict
from echoseg.training.api import check_resume_config
from echoseg.training.config import resolve_config


def _older(config: dict, dotted: str) -> dict:
    """The same resolved config as an echoseg that did not know `dotted` yet would have written it."""
    section, key = dotted.split(".")
    older = {name: dict(value) if isinstance(value, dict) else value for name, value in config.items()}
    del older[section][key]
    return older


def test_a_setting_added_since_the_run_started_resumes_at_its_default(tmp_path):
    current = to_dict(resolve_config("cpu"))
    check_resume_config(_older(current, "mean_teacher.fourier_style"), current, tmp_path)  # default 0: same run


def test_a_setting_added_since_then_but_set_otherwise_is_a_change(tmp_path):
    saved = _older(to_dict(resolve_config("cpu")), "mean_teacher.fourier_style")
    current = to_dict(resolve_config("cpu", ["mean_teacher.fourier_style=0.05"]))
    with pytest.raises(ConfigError, match="mean_teacher.fourier_style"):
        check_resume_config(saved, current, tmp_path)


def test_a_changed_setting_is_still_refused(tmp_path):
    saved = to_dict(resolve_config("cpu"))
    current = to_dict(resolve_config("cpu", ["optim.lr=0.01"]))
    with pytest.raises(ConfigError, match="optim.lr"):
        check_resume_config(saved, current, tmp_path)
