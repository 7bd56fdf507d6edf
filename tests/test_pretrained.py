"""The synthetic-pretrained model shipped in the package: it is the one the recipe makes, it loads as
`echoseg predict`'s default, and every output that uses it carries its note."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echoseg.data.synthetic import generate_video, write_echonet
from echoseg.inference.segmenter import PRETRAINED_NOTE, load_segmenter, pretrained_path
from echoseg.models.checkpoint import read_metadata
from echoseg.pretrained.recipe import RECIPE
from echoseg.training.config import resolve_config


def test_shipped_weights_record_the_recipe_that_makes_them():
    info = read_metadata(pretrained_path())
    config = resolve_config(RECIPE["config"], RECIPE["overrides"])
    assert info.model == config.model.name == "sscf"
    assert info.model_cfg == config.model.create_kwargs()
    assert info.extra["recipe"] == json.loads(json.dumps(RECIPE))  # what python -m echoseg.pretrained.recipe records
    assert info.extra["note"] == PRETRAINED_NOTE == "trained on synthetic data only; for research"
    assert info.extra["input_size"] == list(config.data.input_size)
    assert pretrained_path().stat().st_size < 8_000_000  # float16: a few MB in the package


def test_shipped_model_segments_a_realistic_video():
    segmenter = load_segmenter(pretrained_path())
    assert segmenter.describe()["note"] == PRETRAINED_NOTE
    v = generate_video(987654, difficulty="realistic", frames=24)  # a seed outside the training set's stream
    masks = segmenter.segment(v.sample.video)
    dice = [2 * (masks[f] & v.sample.masks[f]).sum() / (masks[f].sum() + v.sample.masks[f].sum())
            for f in (v.sample.ed, v.sample.es)]
    assert np.mean(dice) > 0.7, dice


def test_predict_without_checkpoint_uses_the_shipped_model_and_says_so(tmp_path, caplog):
    from echoseg.cli import main

    write_echonet(tmp_path / "data", [generate_video(5, difficulty="realistic", frames=20, case_id="one")])
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path / "data" / "Videos" / "one.avi"), "--out", str(tmp_path / "pred"),
              "--no-overlay", "--no-progress", "--device", "cpu"])
    assert exit_info.value.code == 0
    record = json.loads((tmp_path / "pred" / "run.json").read_text())
    assert record["note"] == PRETRAINED_NOTE and record["checkpoint"] == str(pretrained_path())
    assert PRETRAINED_NOTE in caplog.text
