"""Report files: metrics.json (strict JSON with definitions), CSVs, plots, self-contained HTML, headless render."""

import csv
import json
import shutil
import subprocess

import cv2
import pytest

from echoseg.evaluation.evaluate import evaluate_model
from echoseg.evaluation.report import write_report
from evaluation_fakes import FakeReader, FakeSegmenter, make_sample, shifted_predictor


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    samples = [make_sample(f"v{i}", ef=45.0 + i, widths=(20 + i, 18, 15, 12 - i % 3, 14, 17), spacing=(0.3, 0.3))
               for i in range(4)]
    samples += [make_sample("p1_2CH", patient_id="p1", view="2CH", spacing=(0.3, 0.3), ef=50.0),
                make_sample("p1_4CH", patient_id="p1", view="4CH", spacing=(0.3, 0.3), ef=50.0)]
    reader = FakeReader(samples, broken=["bad"])
    result = evaluate_model(FakeSegmenter(shifted_predictor(2)), reader, progress=False)
    out = tmp_path_factory.mktemp("report")
    files = write_report(result, out, title="test report", info={"checkpoint": "fake.safetensors"})
    return result, out, files


def test_metrics_json_is_strict_and_names_definitions(report):
    _, _, files = report
    doc = json.loads(files["metrics"].read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    ed = doc["groups"]["ED"]
    assert "paper" in ed["dice_mean"]["definition"] and "EchoNet" in ed["dice_pooled"]["definition"]
    assert doc["ef"]["monoplane"]["pred_vs_reference"]["n"] == 6
    assert doc["errors"][0]["case_id"] == "bad" and doc["biplane_per_patient"][0]["patient_id"] == "p1"
    assert doc["info"]["checkpoint"] == "fake.safetensors"


def test_csv_rows(report):
    result, _, files = report
    with open(files["per_case"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["case_id"] for r in rows] == [c.case_id for c in result.cases] + ["bad"]
    v0 = rows[0]
    assert float(v0["dice_ed"]) == pytest.approx(1 - 2 / 20) and v0["error"] == ""
    assert "cannot decode" in rows[-1]["error"] and rows[-1]["dice_ed"] == ""
    with open(files["per_frame"]) as f:
        assert len(list(csv.DictReader(f))) == len(result.records) == 6 * 6


def test_html_is_self_contained_with_embedded_images(report):
    _, out, files = report
    text = files["report"].read_text()
    assert text.count("data:image/png;base64,") >= 8
    assert 'src="http' not in text and "<link" not in text
    assert text.index("Segmentation summary") < text.index("Distributions") < text.index("EF agreement") \
        < text.index("Worst cases") < text.index("Failed cases")
    assert len(list((out / "plots").glob("*.png"))) >= 8


def test_every_table_scrolls_in_its_own_box_instead_of_widening_the_page(report):
    # the segmentation table was wider than a 1300 px window: its AUC column was cut off
    text = report[2]["report"].read_text()
    assert text.count("<table>") >= 3
    assert text.count("<table>") == text.count('<div class="table-scroll"><table>')
    assert ".table-scroll { overflow-x: auto;" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium); .ci/run installs it")
def test_report_renders_in_headless_chromium(report, tmp_path):
    _, _, files = report
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,2000", files["report"].resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2000, 1200)
    assert image.std() > 20  # not blank
    # The embedded plots rendered: coloured pixels appear (the page's text and tables are grey).
    saturation = image.max(axis=2).astype(int) - image.min(axis=2)
    assert (saturation > 80).sum() > 500
