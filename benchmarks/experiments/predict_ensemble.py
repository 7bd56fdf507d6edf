"""Experiment, not a feature: `echoseg predict` with an ensemble of weights files in place of one model.

    python benchmarks/experiments/predict_ensemble.py W1,W2,W3 predict VIDEOS --out OUT --checkpoint W1 --engine torch

Each member runs its own engine on the video and the probabilities are averaged (mean of the members'
probabilities) before predict's mask rule, ED/ES and EF; the first member's input size and mask rule are
used (the members must share the input size). Results: benchmarks/RESULTS.md, "Ensembles of training
seeds" (issue 22): no EF gain on real video, so this stays an experiment.
"""
import sys

import numpy as np

from echoseg.inference import segmenter as seg

MEMBERS = sys.argv[1].split(",")


class EnsembleEngine:
    def __init__(self, engines):
        self.engines = engines
        self.name = engines[0].name
        self.precision = engines[0].precision

    def video_probs(self, small):
        return np.mean([e.video_probs(small) for e in self.engines], axis=0)

    def describe(self):
        return self.engines[0].describe()


original = seg.load_segmenter


def load_ensemble(checkpoint, **kwargs):
    segmenters = [original(path, **kwargs) for path in MEMBERS]
    first = segmenters[0]
    assert all(s.input_size == first.input_size for s in segmenters)
    first.engine = EnsembleEngine([s.engine for s in segmenters])
    return first


seg.load_segmenter = load_ensemble  # predict imports it inside run()
from echoseg.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
