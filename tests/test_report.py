"""Report files: metrics.json (strict JSON with definitions), CSVs, plots, self-contained HTML, headless render."""

import csv
import json
import re
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


# Measures, in the rendered page, how far each table reaches past the page's content box and whether
# the box it sits in scrolls: the test adds it to a copy of the report (the report itself has no script).
MEASURE_TABLES = """<script>
document.addEventListener('DOMContentLoaded', () => {
  const main = document.querySelector('main').getBoundingClientRect();
  const rows = [...document.querySelectorAll('table')].map(t => {
    const box = t.parentElement, style = getComputedStyle(box);
    const scrolls = box !== document.querySelector('main') && ['auto', 'scroll'].includes(style.overflowX);
    const visibleRight = scrolls ? box.getBoundingClientRect().right : t.getBoundingClientRect().right;
    return [Math.round(visibleRight - Math.min(main.right, window.innerWidth)), scrolls];
  });
  document.body.setAttribute('data-tables', JSON.stringify({width: window.innerWidth, rows}));
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium); .ci/run installs it")
def test_every_table_fits_a_1300_pixel_window_or_scrolls_in_its_box(report, tmp_path):
    """issue 26, item 24: the segmentation table was wider than a 1300 px window (AUC cut off)."""
    import html

    _, _, files = report
    page = tmp_path / "measured.html"
    page.write_text(files["report"].read_text().replace("</head>", MEASURE_TABLES + "</head>"))
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1300,900",
                           "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
                          check=True, capture_output=True, text=True, timeout=120)
    measured = json.loads(html.unescape(re.search(r'data-tables="([^"]*)"', done.stdout).group(1)))
    assert measured["width"] == 1300 and len(measured["rows"]) >= 3
    for overflow, _ in measured["rows"]:
        assert overflow <= 0, measured  # nothing reaches past the page: it fits, or its own box scrolls


def test_tables_sit_in_boxes_that_scroll_sideways(report):
    """Without a browser: every table is inside a box whose CSS scrolls sideways, and header cells may wrap."""
    from echoseg.evaluation.report import CSS

    _, _, files = report
    text = files["report"].read_text()
    assert text.count("<table>") >= 3 and text.count("<table>") == text.count('<div class="table-scroll"><table>')
    assert re.search(r"\.table-scroll\s*\{[^}]*overflow-x:\s*auto", CSS)
    assert re.search(r"\bth\s*\{[^}]*white-space:\s*normal", CSS)
