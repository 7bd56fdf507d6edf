"""issue 26 items 2, 3, 4, 9: one screening of labels for every command that reads them.

Tracing points outside the frame, degenerate outlines and implausible areas are problems that
`data summary` reports and `train` and `evaluate` leave out; a FileList Split other than
TRAIN/VAL/TEST skips the case with a line naming it; CAMUS file names in another case are read.
"""

from __future__ import annotations

import csv

import numpy as np

from echoseg.data.check import check_dataset
from echoseg.data.readers.echonet import EchoNetReader
from echoseg.data.screening import listing_left_out, sample_left_out_reason
from echoseg.evaluation.evaluate import evaluate_model
from echoseg.evaluation.report import write_report
from evaluation_fakes import FakeSegmenter
from readers_fixtures import lv_mask, tracing_rows, write_echonet
from test_data_cli import _run

N = 12


def _rows(frame=0, edit=None):
    rows = tracing_rows(lv_mask(frame, N))
    if edit is not None:
        edit(rows)
    return rows


def _set(row, col, value):
    def edit(rows):
        rows[row, col] = value
    return edit


def _collapse(rows):
    rows[:] = 10.0  # every point of the frame at (10, 10)


BAD_TRACINGS = {
    "FARX": ({0: _rows(0, _set(3, 0, 1e6))}, "outside the 112x112 frame"),  # EF 100 from tracings before
    "NEGX": ({0: _rows(0, _set(3, 0, -50.0))}, "outside the 112x112 frame"),  # EF 64 instead of 45
    "SPOT": ({N // 2: _rows(N // 2, _collapse)}, "degenerate outline"),  # ED/ES swap, EF 100
}


def _cases(split="TRAIN"):
    good = [{"name": f"GOOD{i}", "n_frames": N, "traced": [0, N // 2], "split": split} for i in range(3)]
    bad = [{"name": name, "n_frames": N, "traced": [0, N // 2], "rows": rows, "split": split}
           for name, (rows, _) in BAD_TRACINGS.items()]
    return good + bad


def test_tracings_outside_the_frame_or_collapsed_are_problems_training_leaves_out(tmp_path):
    write_echonet(tmp_path, _cases())
    reader = EchoNetReader(tmp_path)
    left = {item.case_id: item.reason for item in listing_left_out(reader)}  # what `train` leaves out
    assert set(left) == set(BAD_TRACINGS)
    for name, (_, why) in BAD_TRACINGS.items():
        assert why in left[name] and "VolumeTracings.csv" in left[name], left[name]
    assert "(1e+06, " in left["FARX"] and "(-50, " in left["NEGX"]

    check = check_dataset(EchoNetReader(tmp_path), progress=False)  # what `data summary` says
    summary = "\n".join(check.summary_lines())
    assert "training     3 left out" in summary and "problems     3" in summary
    assert {case.case_id for case in check.left_out} == set(BAD_TRACINGS)


def test_without_frame_size_in_the_filelist_the_geometry_is_checked_on_load(tmp_path):
    columns = ["FileName", "EF", "ESV", "EDV", "FPS", "NumberOfFrames", "Split"]  # no FrameHeight/FrameWidth
    write_echonet(tmp_path, _cases(), filelist_columns=columns)
    reader = EchoNetReader(tmp_path)
    assert not listing_left_out(reader)
    reasons = {name: sample_left_out_reason(reader, reader.load(name)) for name in ("GOOD0", *BAD_TRACINGS)}
    assert reasons["GOOD0"] is None
    assert "outside the 112x112 frame" in reasons["FARX"] and "degenerate outline" in reasons["SPOT"]


def test_implausible_mask_areas_are_problems_for_every_format():
    from echoseg.data.schema import EchoSample
    from echoseg.data.screening import label_problems

    video = np.zeros((4, 40, 40), np.uint8)
    lv = np.zeros((40, 40), bool)
    lv[10:30, 15:25] = True
    spot = np.zeros((40, 40), bool)
    spot[10, 10] = True
    full = np.ones((40, 40), bool)
    sample = EchoSample(video=video, masks={0: lv, 1: lv, 2: spot, 3: full}, case_id="c", patient_id="c")
    problems = " | ".join(label_problems(sample))
    assert "frame(s) 2: under 8 pixels" in problems and "frame(s) 3: over 50% of the frame" in problems
    assert label_problems(EchoSample(video=video, masks={0: lv, 1: lv}, case_id="c", patient_id="c")) == []


def test_evaluate_leaves_out_and_reports_what_train_leaves_out(tmp_path):
    five_rows = {0: _rows(0)[:5]}  # ED traced with 5 of 21 rows: scored Dice ES 0.16, EF -79 before
    write_echonet(tmp_path / "data", _cases("TEST") + [{"name": "FIVEROWS", "n_frames": N, "traced": [0, N // 2],
                                                        "rows": five_rows, "split": "TEST"}])
    reader = EchoNetReader(tmp_path / "data")
    result = evaluate_model(FakeSegmenter(lambda video: (video < 60).astype(np.float32), (112, 112)), reader,
                            split="test", progress=False)
    assert sorted(c.case_id for c in result.cases) == ["GOOD0", "GOOD1", "GOOD2"]
    left = {item["case_id"]: item["reason"] for item in result.left_out}
    assert set(left) == set(BAD_TRACINGS) | {"FIVEROWS"} and "5 rows" in left["FIVEROWS"]
    assert result.summary["run"]["left_out"] == 4 and result.summary["run"]["evaluated"] == 3
    files = write_report(result, tmp_path / "eval")
    with open(files["per_case"], newline="") as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    assert rows["FIVEROWS"]["error"].startswith("left out") and "5 rows" in rows["FIVEROWS"]["error"]
    assert rows["GOOD0"]["error"] == ""


def test_unknown_split_value_is_a_problem_naming_file_row_and_value(tmp_path, capsys):
    cases = [{"name": f"C{i}", "n_frames": N, "traced": [0, N // 2], "split": s}
             for i, s in enumerate(["train", "Train", "VAL", "Testing"])]
    write_echonet(tmp_path, cases)
    reader = EchoNetReader(tmp_path)
    assert {r.case_id: r.split for r in reader.records()} == {"C0": "train", "C1": "train", "C2": "val"}
    code, out, err = _run(["data", "summary", str(tmp_path), "--format", "echonet", "--no-progress"], capsys)
    assert "FileList.csv: line 5: Split 'Testing' of C3 is not TRAIN, VAL or TEST" in out
    assert "training     1 left out" in out


def test_filelist_names_in_another_case_than_the_video_files_are_read(tmp_path):
    write_echonet(tmp_path, [{"name": "0xab", "n_frames": N, "traced": [0, N // 2]},
                             {"name": "0xcd", "n_frames": N, "traced": [0, N // 2]}])
    (tmp_path / "Videos" / "0xab.avi").rename(tmp_path / "Videos" / "0XAB.avi")
    reader = EchoNetReader(tmp_path)
    assert [r.case_id for r in reader.records()] == ["0xab", "0xcd"] and not reader.skipped_cases
    assert reader.load("0xab").n_frames == N


def test_camus_files_with_a_lower_case_view_are_read_not_dropped(tmp_path):
    from echoseg.data.readers.camus import CamusReader
    from readers_fixtures import camus_case, write_camus_nifti_patient

    video, labels = camus_case()
    for patient in ("patient0001", "patient0002"):
        write_camus_nifti_patient(tmp_path, patient, "4CH", video, labels)
    folder = tmp_path / "database_nifti" / "patient0002"
    for path in folder.iterdir():  # patient0002_4ch_ED.nii.gz, Info_4ch.cfg: as some exports write them
        path.rename(folder / path.name.replace("4CH", "4ch"))
    reader = CamusReader(tmp_path, views=("4CH",))
    assert [r.case_id for r in reader.records()] == ["patient0001_4CH", "patient0002_4CH"]
    sample = reader.load("patient0002_4CH")
    assert sample.n_frames == len(video) and sample.masks[sample.ed].sum() == (labels[0] == 1).sum()
    assert not reader.problems


def test_training_on_a_dataset_whose_every_case_is_left_out_says_so(tmp_path, capsys):
    write_echonet(tmp_path / "data", [{"name": f"C{i}", "n_frames": N, "traced": [0, N // 2], "split": "Training"}
                                      for i in range(3)])
    code, _, err = _run(["train", "--data", str(tmp_path / "data"), "--format", "echonet", "--config", "cpu",
                         "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert code == 2
    assert "all 3 cases the dataset names were left out" in err and "Split 'Training'" in err
    assert "split has none" not in err
