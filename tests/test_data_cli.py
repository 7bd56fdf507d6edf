"""`echoseg data summary|preview` on tiny datasets with broken cases."""

import csv
import re

import cv2
import numpy as np
import pytest

from echoseg.cli import main
from readers_fixtures import camus_case, write_camus_nifti_patient, write_echonet, write_split_lists

N = 12
# EF of the fixture's ellipse LV (half-axes 12x26 at ED, 8x21 at ES) as a prolate ellipsoid:
ELLIPSOID_EF = 100 * (1 - (8**2 * 21) / (12**2 * 26))  # 64.1 %


def _run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture
def echonet_root(tmp_path):
    root = tmp_path / "echonet"
    cases = [{"name": f"GOOD{i}", "n_frames": N, "traced": [0, N // 2], "ef": ELLIPSOID_EF,
              "split": ("TRAIN", "VAL", "TEST")[i]} for i in range(3)]
    cases += [{"name": "BROKEN", "n_frames": N, "traced": [N // 2, 0]},
              {"name": "UNTRACED", "n_frames": N, "traced": [0]}]
    write_echonet(root, cases)
    (root / "Videos" / "BROKEN.avi").write_bytes(b"\x00" * 500)
    return root


def test_summary_lists_problems_goes_on_and_writes_cases_csv(echonet_root, tmp_path, capsys):
    out_csv = tmp_path / "cases.csv"
    code, out, _ = _run(["data", "summary", str(echonet_root), "--format", "echonet", "--out", str(out_csv),
                         "--no-progress"], capsys)
    assert code == 0
    # FileList has 5 rows: UNTRACED is skipped while listing, and counted and written like the others
    assert "5 listed, 1 skipped while listing, 4 checked, 1 failed" in out
    assert "splits       test 1, train 2, val 1" in out
    assert "BROKEN.avi: cannot open the video" in out
    assert "[UNTRACED]" in out and "1 traced frame(s)" in out
    assert "listed first in 3, last in 1 videos" in out
    assert "frames       36 in 3 loaded videos" in out and "annotated    6 frames" in out
    with open(out_csv, newline="") as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"GOOD0", "GOOD1", "GOOD2", "BROKEN", "UNTRACED"}
    assert "1 traced frame(s)" in rows["UNTRACED"]["error"]
    assert "training     2 left out" in out  # BROKEN and UNTRACED: what `echoseg train` would leave out
    broken = rows["BROKEN"]
    assert "cannot open" in broken["error"] and broken["ef_from_masks"] == "" and broken["annotated_frames"] == ""
    for name in ("GOOD0", "GOOD1", "GOOD2"):
        row = rows[name]
        assert row["error"] == "" and row["n_frames"] == str(N) and row["annotated_frames"] == "2"
        assert (row["ed"], row["es"], row["patient_id"]) == ("0", str(N // 2), name)
        assert float(row["ef_from_masks"]) == pytest.approx(ELLIPSOID_EF, abs=4)
        assert float(row["ef_from_tracings"]) == pytest.approx(float(row["ef_from_masks"]), abs=4)
    mae = np.mean([abs(float(rows[n]["ef_from_masks"]) - float(rows[n]["ef_reference"])) for n in ("GOOD0", "GOOD1", "GOOD2")])
    # cases.csv rounds EF values, so the printed MAE (full precision) may differ in the last digit.
    printed = re.search(r"\|ef_from_masks - ef_reference\| = ([0-9.]+) EF points over 3 cases", out)
    assert printed and float(printed.group(1)) == pytest.approx(mae, abs=0.011)


def test_summary_limit_checks_only_some_cases(echonet_root, capsys):
    code, out, _ = _run(["data", "summary", str(echonet_root), "--format", "echonet", "--limit", "1",
                         "--no-progress"], capsys)
    assert code == 0 and "5 listed, 1 skipped while listing, 1 checked, 0 failed" in out


def test_summary_on_camus(tmp_path, capsys):
    video, labels = camus_case(5)
    root = tmp_path / "camus"
    write_camus_nifti_patient(root, "patient0001", "2CH", video, labels, ef=40.0)
    write_camus_nifti_patient(root, "patient0001", "4CH", video, labels, reversed_storage=True, ef=40.0)
    write_split_lists(root, {"validation": ["patient0001"]})
    out_csv = tmp_path / "cases.csv"
    code, out, _ = _run(["data", "summary", str(root), "--format", "camus", "--out", str(out_csv),
                         "--no-progress"], capsys)
    assert code == 0 and "2 listed, 2 checked, 0 failed" in out and "val 2" in out
    assert "1 sequences stored ES->ED" in out and "problems     0" in out
    with open(out_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["annotated_frames"] for r in rows] == ["5", "5"]
    assert rows[0]["ef_from_masks"] == rows[1]["ef_from_masks"] != ""  # reversed storage reads back the same
    assert rows[0]["ef_from_tracings"] == ""


def test_missing_filelist_is_a_clean_error(tmp_path, capsys):
    code, _, err = _run(["data", "summary", str(tmp_path), "--format", "echonet"], capsys)
    assert code == 2 and "FileList.csv" in err and "Traceback" not in err


def test_preview_writes_a_png_with_outlines(echonet_root, tmp_path, capsys):
    png = tmp_path / "preview.png"
    code, out, _ = _run(["data", "preview", str(echonet_root), "--format", "echonet", "--case", "GOOD1",
                         "--out", str(png), "--frames", "4"], capsys)
    assert code == 0 and "ED 0, ES 6" in out
    image = cv2.imread(str(png))
    assert image.shape == (22 + 224, 4 * 224 + 3 * 4, 3)
    assert image.std() > 20
    green = (image[..., 1] > 180) & (image[..., 0] < 60) & (image[..., 2] < 60)
    assert green.sum() > 200  # the LV outline is drawn on the ED and ES tiles
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_preview_of_a_broken_case_names_the_file(echonet_root, tmp_path, capsys):
    code, _, err = _run(["data", "preview", str(echonet_root), "--format", "echonet", "--case", "BROKEN",
                         "--out", str(tmp_path / "p.png")], capsys)
    assert code == 2 and "BROKEN.avi" in err and not (tmp_path / "p.png").exists()


def test_summary_out_inside_the_dataset_is_refused(echonet_root, capsys):
    before = (echonet_root / "FileList.csv").read_bytes()
    code, out, err = _run(["data", "summary", str(echonet_root), "--format", "echonet", "--out",
                           str(echonet_root / "FileList.csv"), "--no-progress"], capsys)
    assert code == 2 and "which this command reads" in err and "Traceback" not in err
    assert (echonet_root / "FileList.csv").read_bytes() == before


def test_camus_case_without_ground_truth_is_a_problem(tmp_path, capsys):
    video, labels = camus_case(5)
    folder = write_camus_nifti_patient(tmp_path, "patient0001", "4CH", video, labels)
    for gt in folder.glob("*_gt.nii.gz"):
        gt.unlink()
    code, out, _ = _run(["data", "summary", str(tmp_path), "--format", "camus", "--no-progress"], capsys)
    assert code == 0 and "problems     1" in out and "no ground-truth masks" in out
