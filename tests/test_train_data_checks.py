"""issue 14: training never uses bad labels or drops cases silently, and --resume never trains on other data."""

from __future__ import annotations

import csv
import logging
import shutil

import numpy as np
import pytest

from echoseg.cli import main
from readers_fixtures import lv_mask, tracing_rows, write_echonet

N = 12
TINY = ["--config", "cpu", "--no-progress", "--set", "model.name=unet", "--set", "model.window=1",
        "--set", "model.settings.width=0.125", "--set", "data.input_size=[32,32]", "--set", "optim.steps=1",
        "--set", "data.num_workers=0", "--set", "runtime.val_at_start=false", "--set", "runtime.threads=1"]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _good(i, split="TRAIN"):
    return {"name": f"GOOD{i}", "n_frames": N, "traced": [0, N // 2], "split": split}


@pytest.fixture
def dataset_with_bad_cases(tmp_path):
    root = tmp_path / "echonet"
    nan_rows = tracing_rows(lv_mask(0, N))
    nan_rows[4, 1] = np.nan
    cases = [_good(i, "TRAIN" if i < 6 else "VAL") for i in range(8)] + [
        # ED traced with 5 of 21 rows: the outline is a sliver, ED and ES would swap (EF 93.7 vs 64.2)
        {"name": "FIVEROWS", "n_frames": N, "traced": [0, N // 2], "rows": {0: tracing_rows(lv_mask(0, N))[:5]}},
        {"name": "BEYOND", "n_frames": N, "traced": [0, N + 3]},
        {"name": "NOVIDEO", "n_frames": N, "traced": [0, N // 2], "write_video": False},
        {"name": "NAN", "n_frames": N, "traced": [0, N // 2], "rows": {0: nan_rows}},
    ]
    write_echonet(root, cases)
    return root


def test_training_refuses_many_bad_cases_and_names_each(dataset_with_bad_cases, tmp_path, capsys, caplog):
    argv = ["train", "--data", str(dataset_with_bad_cases), "--format", "echonet", "--out", str(tmp_path / "run")] + TINY
    code, out, err = _run(argv, capsys)
    assert code == 2
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert "4 of 12 cases" in line and "data.max_bad_fraction" in line and "--allow-bad-cases" in line

    caplog.set_level(logging.INFO)
    code, out, err = _run(argv + ["--allow-bad-cases"], capsys)
    assert code == 0, err
    log = caplog.text
    assert "training on 8 cases (6 train, 2 val)" in log and "4 left out" in log
    for name, why in (("FIVEROWS", "5 rows"), ("BEYOND", "outside the video"), ("NOVIDEO", "missing"),
                      ("NAN", "bad tracing row")):
        assert any(name in rec.getMessage() and why in rec.getMessage() for rec in caplog.records), (name, log)
    with open(tmp_path / "run" / "cases.csv", newline="") as f:
        rows = {r["case_id"]: r for r in csv.DictReader(f)}
    assert {r["use"] for n, r in rows.items() if n.startswith("GOOD")} == {"train", "val"}
    assert rows["FIVEROWS"]["use"] == "left out" and "5 rows" in rows["FIVEROWS"]["reason"]
    assert set(rows) == {f"GOOD{i}" for i in range(8)} | {"FIVEROWS", "BEYOND", "NOVIDEO", "NAN"}


def test_a_case_whose_video_breaks_on_load_is_reported(tmp_path, capsys, caplog):
    root = tmp_path / "echonet"
    write_echonet(root, [_good(i, "TRAIN" if i < 9 else "VAL") for i in range(11)] +
                  [{"name": "BROKEN", "n_frames": N, "traced": [0, N // 2]}])
    (root / "Videos" / "BROKEN.avi").write_bytes(b"\x00" * 500)
    caplog.set_level(logging.INFO)
    code, out, err = _run(["train", "--data", str(root), "--format", "echonet", "--out", str(tmp_path / "run"),
                           "--set", "data.max_bad_fraction=0.1"] + TINY, capsys)
    assert code == 0, err  # 1 of 12 is within the allowed fraction: trains, and says so
    assert "training on 11 cases" in caplog.text and "BROKEN" in caplog.text and "cannot open" in caplog.text


def _synthetic(root, seed):
    from echoseg.data.synthetic import generate_dataset, write_synthetic

    write_synthetic(root, generate_dataset(4, seed=seed, frames=16, size=32, difficulty="easy"))
    return root


def test_resume_refuses_other_data_and_accepts_a_moved_copy(tmp_path, capsys):
    data = _synthetic(tmp_path / "a", 0)
    other = _synthetic(tmp_path / "b", 1)
    run = tmp_path / "run"
    code, _, err = _run(["train", "--data", str(data), "--format", "synthetic", "--out", str(run)] + TINY, capsys)
    assert code == 0, err
    resume = ["train", "--format", "synthetic", "--out", str(run), "--resume", "--no-progress", "--data"]
    code, _, err = _run(resume + [str(other)], capsys)
    assert code == 2 and "\n" not in err.strip() and "Traceback" not in err
    assert "different data" in err and str(data) in err and str(other) in err

    moved = tmp_path / "moved"
    shutil.copytree(data, moved)  # same content elsewhere (copied: new modification times)
    code, _, err = _run(resume + [str(moved)], capsys)
    assert code == 0, err


def test_summary_counts_only_the_test_cases_it_does_not_train_on():
    from echoseg.data.schema import CaseRecord
    from echoseg.training.data_use import DataUse

    # A CV fold (split file) trains on two cases the dataset marks test and holds out the third.
    records = [CaseRecord(case_id=c, patient_id=c, split=s)
               for c, s in [("a", "train"), ("b", "test"), ("c", "test"), ("d", "test"), ("e", "val")]]
    use = DataUse(records, train=["a", "b", "c"], val=["e"])
    assert use.summary() == "training on 4 cases (3 train, 1 val) of 5; 0 left out; 1 test cases not used"
    assert [use.role(r.case_id, r.split)[0] for r in records] == ["train", "train", "train", "test", "val"]


def test_summary_says_how_many_untraced_videos_data_unlabeled_adds():
    from echoseg.data.schema import CaseRecord
    from echoseg.training.data_use import DataUse

    records = [CaseRecord(case_id=c, patient_id=c, split="train") for c in "abc"]
    use = DataUse(records, train=["a", "b"], val=["c"], unlabeled=96)
    assert use.summary() == ("training on 3 cases (2 train, 1 val) of 3; 0 left out; "
                             "plus 96 untraced videos (data.unlabeled, consistency loss only)")
