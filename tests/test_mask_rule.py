"""The mask rule travels with the weights: training records it, load_segmenter applies it, flags override."""

from __future__ import annotations

import numpy as np
import pytest

from echoseg.geometry.masks import MaskRule
from echoseg.inference.segmenter import load_segmenter
from echoseg.models.checkpoint import save_model
from inference_support import TINY_MODEL_NAME, TinyDarkNet, register_tiny_model


def test_rule_from_logits_matches_the_rule_on_probabilities():
    logits = np.random.default_rng(0).normal(0, 3, (4, 16, 16)).astype(np.float32)
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    for rule in (MaskRule(), MaskRule(0.3), MaskRule(0.7, clean=True)):
        expected = np.stack([rule(p) for p in probs])
        assert np.array_equal(rule.from_logits(logits), expected)


def test_metadata_round_trip_and_overrides():
    rule = MaskRule(0.4, clean=True)
    assert MaskRule.from_metadata(rule.as_metadata()) == rule
    assert MaskRule.from_metadata(None) == MaskRule()
    assert MaskRule.from_metadata(rule.as_metadata(), clean=False) == MaskRule(0.4, clean=False)
    assert MaskRule.from_metadata(rule.as_metadata(), threshold=0.6) == MaskRule(0.6, clean=True)


@pytest.mark.parametrize("recorded", [None, {"threshold": 0.5, "clean": True}])
def test_load_segmenter_applies_the_recorded_rule_and_flags_override_it(tmp_path, recorded):
    register_tiny_model()
    extra = {"input_size": [32, 32]} | ({"mask_rule": recorded} if recorded else {})
    path = save_model(tmp_path / "model.safetensors", TinyDarkNet(), TINY_MODEL_NAME, {"window": 3, "width": 4},
                      extra=extra)
    expected = MaskRule.from_metadata(recorded)
    assert load_segmenter(path).mask_rule == expected
    assert load_segmenter(path, clean=not expected.clean).mask_rule == MaskRule(0.5, not expected.clean)
    assert load_segmenter(path, threshold=0.3).mask_rule == MaskRule(0.3, expected.clean)
    assert load_segmenter(path).input_size == (32, 32)
