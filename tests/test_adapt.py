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


def test_a_more_plausible_candidate_that_moves_the_mean_ef_is_refused():
    """Measured on real video (benchmarks/RESULTS.md): adapt raised plausibility while its ES masks grew,
    moving EF by about -9 points, which plausibility cannot see. A candidate whose mean EF over the check
    videos moves more than `max_ef_shift` from the start's is not taken; the report says why."""
    rng = np.random.default_rng(1)
    start_score = rng.uniform(0.5, 0.7, 30)
    start_ef = rng.uniform(50, 65, 30)
    better = start_score + 0.08 + rng.normal(0, 0.01, 30)

    def scores(score, ef):
        return [VideoPlausibility(1.0, 1.0, v, v, 0.0, 1.0, e) for v, e in zip(score, ef, strict=True)]

    start = scores(start_score, start_ef)
    shifted = scores(better, start_ef - 9.0 + rng.normal(0, 2, 30))
    steady = scores(better - 0.01, start_ef + rng.normal(0, 2, 30))
    chosen, gains = choose({"start": start, "shifted": shifted}, max_ef_shift=5.0)
    assert chosen == "start" and gains["shifted"]["low"] > 0
    assert -10.5 < gains["shifted"]["ef_shift"] < -7.5 and "mean EF" in gains["shifted"]["refused"]
    chosen, gains = choose({"start": start, "shifted": shifted, "steady": steady}, max_ef_shift=5.0)
    assert chosen == "steady" and "refused" not in gains["steady"]
    assert choose({"start": start, "shifted": shifted}, max_ef_shift=12.0)[0] == "shifted"
    videos_without_ef = scores(start_score, np.full(30, np.nan))  # nothing to compare: plausibility decides
    assert choose({"start": videos_without_ef, "better": scores(better, np.full(30, np.nan))})[0] == "better"


def test_adapt_help_states_the_ef_shift_default(capsys):
    from echoseg.cli import main
    from echoseg.workflows.adapt import MAX_EF_SHIFT

    try:
        main(["adapt", "--help"])
    except SystemExit:
        pass
    assert f"(default {MAX_EF_SHIFT:g})" in " ".join(capsys.readouterr().out.split())


def test_plausibility_carries_the_videos_ef():
    from echoseg.evaluation.plausibility import video_plausibility

    t = np.arange(90)
    radius = 11 + 2 * np.cos(2 * np.pi * t / 30)  # three beats at 30 frames each, EF about 68
    yy, xx = np.mgrid[:64, :64]
    masks = np.stack([((yy - 32) / 1.6) ** 2 + (xx - 32) ** 2 <= r ** 2 for r in radius])
    result = video_plausibility(masks, fps=30.0)
    assert result.ef_counted == 1.0 and 60 < result.ef < 76
    assert np.isnan(video_plausibility(np.zeros((40, 32, 32), bool), fps=30.0).ef)


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
    from echoseg.inference.segmenter import Segmenter, load_segmenter
    from echoseg.models.fold_bn import fold_batchnorm
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
                                         "adapted student, BatchNorm of these videos",
                                         "adapted student, its own BatchNorm"}
    assert report["chosen"] == result.chosen and report["videos"] == 2 and report["check_videos"] == 2
    for name, summary in report["candidates"].items():
        assert 0.0 <= summary["score"] <= 1.0, name
    assert set(result.candidates) == set(report["candidates"])  # what benchmarks.bench_adapt scores
    saved = load_segmenter(tmp_path / "run").model
    chosen = Segmenter(fold_batchnorm(result.candidates[result.chosen]), (64, 64)).model
    frames = torch.rand(1, int(chosen.window), 64, 64)
    assert torch.allclose(saved(frames), chosen(frames), atol=1e-5)  # the file is the chosen candidate
    segmenter = load_segmenter(tmp_path / "run")  # a run folder predict --checkpoint takes
    assert segmenter.weights.extra["adapt"]["chosen"] == result.chosen
    assert segmenter.input_size == (64, 64)
    assert segmenter.segment(np.zeros((4, 112, 112), np.uint8)).shape == (4, 112, 112)
