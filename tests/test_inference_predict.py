"""`predict_videos` and `echoseg predict`: outputs per video, errors listed, resume, checkpoint checks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from echoseg.cli import main as cli_main
from echoseg.errors import EchosegError
from echoseg.inference import outputs
from echoseg.inference.predict import PredictSettings, predict_videos
from echoseg.inference.segmenter import Segmenter
from echoseg.models.checkpoint import save_model
from inference_support import (
    TINY_MODEL_NAME,
    TinyDarkNet,
    beating_video,
    one_torch_thread,  # noqa: F401 (fixture, used through pytestmark)
    register_tiny_model,
)
from test_data_inputs import _write_cv2, write_dicom

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = (64, 64)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def model():
    register_tiny_model()
    # Module fixtures are made before conftest's per-test seeding: seeded here, or the weights (and the
    # odd-size test's Dice, about 0.8 with its bar at 0.8) change from one process to the next.
    torch.manual_seed(0)
    return TinyDarkNet(window=3).eval()


@pytest.fixture(scope="module")
def clips():
    """Two beating clips (period 20 frames at 50 fps) with their true ED/ES."""
    return [beating_video(frames=50, size=SIZE, period=20, phase=4 + 3 * i, seed=i) for i in range(2)]


@pytest.fixture
def input_dir(tmp_path, clips):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    _write_cv2(root / "a.avi", clips[0][0])
    write_dicom(root / "sub" / "b.dcm", clips[1][0], region_spacing_cm=(0.05, 0.03))
    (root / "sub" / "broken.mp4").write_bytes(b"\x00" * 1000)
    return root


def _predict(inputs, model, out, **kw):
    return predict_videos(inputs, Segmenter(model, SIZE, batch_size=8), out, PredictSettings(progress=False, **kw))


def test_directory_with_a_broken_file(tmp_path, input_dir, model, clips):
    out = tmp_path / "out"
    report = _predict([input_dir], model, out)
    assert report.n_done == 2 and report.frames == 100
    errors = _rows(out / "errors.csv")
    assert len(errors) == 1 and errors[0]["input"].endswith("broken.mp4") and "unreadable" in errors[0]["error"]
    summary = _rows(out / "summary.csv")
    assert [r["name"] for r in summary] == ["a", "sub__b"] and {r["status"] for r in summary} == {"done"}

    for row, (video, ed_true, es_true, truth_masks) in zip(summary, clips, strict=True):
        folder = out / row["name"]
        assert (folder / outputs.DONE_MARKER).is_file() and (folder / "preview.gif").stat().st_size > 0
        assert (folder / "overlay.mp4").is_file() or (folder / "overlay.avi").is_file()
        masks = np.load(folder / "masks.npz")["masks"]
        assert masks.shape == video.shape and masks.dtype == bool
        dice = 2 * (masks & truth_masks).sum() / (masks.sum() + truth_masks.sum())
        assert dice > 0.8  # the tiny model segments the dark cavity
        # ED/ES from the predicted area curve match the truth within 2 frames, every beat.
        ed = [int(x) for x in row["ed_frames"].split()]
        es = [int(x) for x in row["es_frames"].split()]
        assert len(ed) >= 2 and all(min(abs(e - t) for t in ed_true) <= 2 for e in ed)
        assert len(es) >= 2 and all(min(abs(e - t) for t in es_true) <= 2 for e in es)
        frames = _rows(folder / "frames.csv")
        assert len(frames) == 50 and [int(f["frame"]) for f in frames if f["is_ed"] == "1"] == ed
        beats = _rows(folder / "beats.csv")
        ef_true = 100 * (1 - (0.78 / 1.22) ** 3)
        assert len(beats) == int(row["n_beats"]) >= 1
        assert float(row["ef_mean"]) == pytest.approx(ef_true, abs=8)

    dicom_row = summary[1]
    assert float(dicom_row["spacing_dy_mm"]) == pytest.approx(0.5) and float(dicom_row["fps"]) == pytest.approx(50)
    assert (out / "sub__b" / "masks.nii.gz").is_file() and not (out / "a" / "masks.nii.gz").exists()
    assert {(r["area_unit"], r["volume_unit"]) for r in _rows(out / "sub__b" / "frames.csv")} == {("mm2", "ml")}
    assert {(r["area_unit"], r["volume_unit"]) for r in _rows(out / "a" / "frames.csv")} == {("px", "px3")}
    dicom_frames = _rows(out / "sub__b" / "frames.csv")
    masks_b = np.load(out / "sub__b" / "masks.npz")["masks"]
    assert float(dicom_frames[7]["area"]) == pytest.approx(masks_b[7].sum() * 0.5 * 0.3, abs=1e-3)


def test_resume_skips_finished_and_redoes_half_written(tmp_path, input_dir, model, monkeypatch):
    out = tmp_path / "out"
    import echoseg.inference.predict as predict_module

    real_gif = outputs.write_gif
    calls = {"n": 0}

    def killed_on_second_video(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is killed while writing the second video
        return real_gif(*args, **kwargs)

    monkeypatch.setattr(predict_module.outputs, "write_gif", killed_on_second_video)
    with pytest.raises(KeyboardInterrupt):
        _predict([input_dir], model, out)
    monkeypatch.setattr(predict_module.outputs, "write_gif", real_gif)
    assert (out / "a" / outputs.DONE_MARKER).is_file()
    half = out / "sub__b"
    assert (half / "masks.npz").is_file() and not (half / outputs.DONE_MARKER).exists()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # no temp file left behind
    finished_mtime = (out / "a" / "masks.npz").stat().st_mtime_ns

    report = _predict([input_dir], model, out)
    assert (report.n_done, report.n_skipped, len(report.errors)) == (1, 1, 1)
    assert (out / "a" / "masks.npz").stat().st_mtime_ns == finished_mtime
    assert (half / outputs.DONE_MARKER).is_file()
    summary = _rows(out / "summary.csv")
    assert [(r["name"], r["status"]) for r in summary] == [("a", "skipped"), ("sub__b", "done")]
    assert summary[0]["ed_frames"]  # a skipped video's stored result still reaches the summary

    report = _predict([input_dir], model, out, overwrite=True)
    assert (report.n_done, report.n_skipped) == (2, 0)
    assert (out / "a" / "masks.npz").stat().st_mtime_ns != finished_mtime


def test_odd_sized_frames_are_resized_and_predictions_resized_back(tmp_path, model):
    video, _, _, truth = beating_video(frames=30, size=(50, 70), period=15, phase=3)
    _write_cv2(tmp_path / "odd.avi", video)
    report = _predict([tmp_path / "odd.avi"], model, tmp_path / "out", spacing_mm=(0.4, 0.4), overlay=False)
    row = report.rows[0]
    assert "resized to the model's 64x64" in row["notes"] and row["spacing_dy_mm"] == "0.4000"
    masks = np.load(tmp_path / "out" / "odd" / "masks.npz")["masks"]
    assert masks.shape == (30, 50, 70) and 2 * (masks & truth).sum() / (masks.sum() + truth.sum()) > 0.8
    assert not (tmp_path / "out" / "odd" / "overlay.mp4").exists()
    with pytest.raises(EchosegError, match="multiples of 16"):
        Segmenter(model, (50, 70))


@pytest.fixture
def checkpoint(tmp_path, model):
    return save_model(tmp_path / "run" / "model.safetensors", model, TINY_MODEL_NAME, {"window": 3, "width": 4},
                      extra={"input_size": list(SIZE)})


def test_cli_predict_with_checkpoint(tmp_path, input_dir, checkpoint, capsys):
    out = tmp_path / "cli_out"
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", str(input_dir), "--checkpoint", str(checkpoint.parent), "--out", str(out),
                  "--batch-size", "4", "--no-progress", "--no-overlay", "--channels-last", "--bf16"])
    assert exit_info.value.code == 1  # one input failed: reported, not fatal for the others
    assert len(_rows(out / "summary.csv")) == 2 and len(_rows(out / "errors.csv")) == 1
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["model"] == TINY_MODEL_NAME and run_info["input_size"] == list(SIZE)
    assert run_info["autocast"] == "torch.bfloat16" and run_info["channels_last"] is True
    result = json.loads((out / "a" / "result.json").read_text())
    assert result["n_beats"] >= 1 and len(result["beats"]) == result["n_beats"]

    # Resuming into this folder with other settings would mix results: refused, unless --overwrite.
    rerun = ["predict", str(input_dir), "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli_main(rerun + ["--threshold", "0.3"])
    assert exit_info.value.code == 2 and "different threshold" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli_main(rerun)  # same weights and settings: resumes (both finished videos skipped)
    assert exit_info.value.code == 1 and {r["status"] for r in _rows(out / "summary.csv")} == {"skipped"}


def test_cli_refuses_foreign_and_mismatched_checkpoints(tmp_path, input_dir, model, capsys):
    register_tiny_model()
    pickle_file = tmp_path / "evil.safetensors"
    torch.save({"weights": torch.zeros(1)}, pickle_file)
    args = ["predict", str(input_dir), "--out", str(tmp_path / "o"), "--no-progress", "--checkpoint"]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args + [str(pickle_file)])
    assert exit_info.value.code == 2 and "not a safetensors weights file" in capsys.readouterr().err

    wide = save_model(tmp_path / "wide.safetensors", TinyDarkNet(width=8), TINY_MODEL_NAME, {"window": 3, "width": 4})
    with pytest.raises(SystemExit):
        cli_main(args + [str(wide)])
    err = capsys.readouterr().err
    assert "weights do not match" in err and "features.weight" in err and "size mismatch" in err

    unknown = save_model(tmp_path / "unknown.safetensors", model, TINY_MODEL_NAME, {"window": 3, "depth": 9})
    with pytest.raises(SystemExit):
        cli_main(args + [str(unknown)])
    assert "model settings do not match" in (err := capsys.readouterr().err) and "depth" in err
    assert not (tmp_path / "o" / "summary.csv").exists()


def test_independent_rank_jobs_last_one_merges(tmp_path, input_dir, model):
    """Job-array sharding without a barrier: the last rank to finish writes the merged summary, and a
    previous run's rank files never stand in for this run's."""
    out = tmp_path / "out"
    _predict([input_dir], model, out, rank=1, world_size=2)  # sub__b (index 1)
    assert not (out / "summary.csv").exists()  # rank 0 has not run yet
    _predict([input_dir], model, out, rank=0, world_size=2)  # a, broken (indices 0, 2)
    assert [r["name"] for r in _rows(out / "summary.csv")] == ["a", "sub__b"]
    assert len(_rows(out / "errors.csv")) == 1
    first_summary = (out / "summary.csv").stat().st_mtime_ns

    _predict([input_dir], model, out, rank=0, world_size=2, overwrite=True)
    assert (out / "summary.csv").stat().st_mtime_ns == first_summary  # rank 1's file is the old run's
    _predict([input_dir], model, out, rank=1, world_size=2, overwrite=True)
    summary = _rows(out / "summary.csv")
    assert (out / "summary.csv").stat().st_mtime_ns > first_summary
    assert [(r["name"], r["status"]) for r in summary] == [("a", "done"), ("sub__b", "done")]
