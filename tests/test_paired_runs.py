"""benchmarks/paired_runs.py pairs two ablation rows' run.json per-video scores (hand-made run folders)."""

import json
import sys

from benchmarks import paired_runs


def _row(folder, seed_values):
    for seed, videos in seed_values.items():
        run = folder / f"seed{seed}" / "fold0"
        run.mkdir(parents=True)
        run.joinpath("run.json").write_text(json.dumps({
            "name": f"row seed {seed} fold 0", "fold": 0, "fold_source": "dataset", "metrics": {"dice": 0.5},
            "per_video": {"dice": videos, "ef_pred": {v: 50.0 for v in videos},
                          "ef_reference": {v: 55.0 for v in videos}}}))


def test_paired_runs_pairs_videos_of_the_same_seed(tmp_path, monkeypatch, capsys):
    _row(tmp_path / "a", {0: {"v1": 0.9, "v2": 0.8}, 1: {"v1": 0.7, "v2": None}})
    _row(tmp_path / "b", {0: {"v1": 0.6, "v2": 0.9}, 1: {"v1": 0.6, "v2": 0.5}})
    cases = paired_runs.row_cases(tmp_path / "a", "A")
    assert [(c.case_id, c.seed) for c in cases] == [("v1", 0), ("v2", 0), ("v1", 1), ("v2", 1)]
    monkeypatch.setattr(sys, "argv", ["paired_runs", str(tmp_path / "a"), str(tmp_path / "b"),
                                      "--metrics", "dice,ef_abs_error"])
    paired_runs.main()
    out = capsys.readouterr().out
    # the (seed, video) pairs both have: v1 seed 0 +0.3, v1 seed 1 +0.1, v2 seed 0 -0.1 (seed 1's v2 is
    # undefined); mean +0.1 (the seeds x videos headline; videos-only, seeds averaged first, gives +0.05)
    assert "dice: A - B = +0.1000" in out and "over 2 videos, seeds [0, 1]" in out
    assert "ef_abs_error: A - B = +0.0000" in out
