"""`echoseg adapt`: the label-free choice, target-domain BatchNorm statistics, and a whole tiny run."""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn as nn

from echoseg.evaluation.plausibility import VideoPlausibility
from echoseg.models.batchnorm_stats import recompute_batchnorm_statistics
from echoseg.workflows.adapt import choose


def _scores(values):
    return [VideoPlausibility(1.0, 1.0, v, v, 0.0, 1.0) for v in values]


def test_the_start_is_kept_unless_a_candidate_is_better_with_a_ci_above_zero():
    rng = np.random.default_rng(0)
    start = rng.uniform(0.5, 0.7, 30)
    same = start + rng.normal(0, 0.05, 30)  # no difference shown
    better = start + 0.05 + rng.normal(0, 0.01, 30)
    best = start + 0.08 + rng.normal(0, 0.01, 30)
    chosen, gains = choose({"start": _scores(start), "same": _scores(same)})
    assert chosen == "start" and gains["same"]["low"] < 0 < gains["same"]["high"]
    chosen, gains = choose({"start": _scores(start), "same": _scores(same), "better": _scores(better),
                            "best": _scores(best)})
    assert chosen == "best" and gains["better"]["low"] > 0
    worse = start - 0.05
    assert choose({"start": _scores(start), "worse": _scores(worse)})[0] == "start"


def test_batchnorm_statistics_are_measured_on_the_given_batches_only():
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    model[1].running_mean.fill_(5.0)
    batches = [torch.full((2, 1, 4, 4), 2.0), torch.full((2, 1, 4, 4), 4.0)]
    weights = model[0].weight.clone()
    assert recompute_batchnorm_statistics(model, iter(batches)) == 2
    assert torch.allclose(model[1].running_mean, torch.tensor([3.0, 3.0]))  # the plain average of 2 and 4
    assert torch.equal(model[0].weight, weights) and not model.training
    momentum = model[1].momentum
    assert recompute_batchnorm_statistics(model, iter([])) == 0  # nothing seen: nothing changed
    assert torch.allclose(model[1].running_mean, torch.tensor([3.0, 3.0])) and model[1].momentum == momentum


def test_a_tiny_adaptation_writes_a_model_predict_can_use(tmp_path):
    from echoseg.data.synthetic import generate_video
    from echoseg.inference.segmenter import load_segmenter
    from echoseg.workflows.adapt import AdaptSettings, adapt
    from readers_fixtures import write_avi

    target = tmp_path / "mine"
    for seed in (1, 2):
        video = generate_video(seed, frames=40, size=112, difficulty="hard").sample.video
        write_avi(target / f"clip{seed}.avi", np.repeat(video[..., None], 3, axis=-1))
    settings = AdaptSettings(videos=[str(target)], out=tmp_path / "run", steps=2, synthetic_videos=3,
                             overrides=["data.batch_labeled=2", "data.batch_unlabeled=2", "runtime.val_interval=2"],
                             threads=1, batchnorm_windows=32)
    result = adapt(settings, progress=False)
    report = json.loads((tmp_path / "run" / "adapt_report.json").read_text())
    assert set(report["candidates"]) == {"start", "start, BatchNorm of these videos", "adapted teacher",
                                         "adapted student, BatchNorm of these videos"}
    assert report["chosen"] == result.chosen and report["videos"] == 2 and report["check_videos"] == 2
    for name, summary in report["candidates"].items():
        assert 0.0 <= summary["score"] <= 1.0, name
    segmenter = load_segmenter(tmp_path / "run")  # a run folder predict --checkpoint takes
    assert segmenter.weights.extra["adapt"]["chosen"] == result.chosen
    assert segmenter.input_size == (64, 64)
    assert segmenter.segment(np.zeros((4, 112, 112), np.uint8)).shape == (4, 112, 112)
