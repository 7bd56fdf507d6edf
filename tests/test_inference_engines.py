"""Inference engines: PyTorch and ONNX Runtime give the same masks, volumes and ED/ES; the ONNX cache is
reused and invalidated with the weights; `auto` records its choice; int8 is gated on its Dice vs fp32."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import numpy as np
import pytest
import torch

from echoseg.cli import main as cli_main
from echoseg.data.synthetic.generator import generate_video
from echoseg.data.synthetic.writers import write_avi
from echoseg.errors import EchosegError
from echoseg.geometry.masks import frame_dice
from echoseg.inference import onnx_cache
from echoseg.inference.segmenter import load_segmenter, pretrained_path
from echoseg.models.checkpoint import load_model, save_model
from inference_support import one_torch_thread  # noqa: F401 (fixture, used through pytestmark)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _copy_of_builtin(folder):
    """The built-in model copied to a folder of its own, so its ONNX cache is written there."""
    path = folder / "model.safetensors"
    shutil.copy(pretrained_path(), path)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """One copy for the tests that only read it: the ONNX export (seconds) is made once and reused."""
    return _copy_of_builtin(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A realistic synthetic A4C video (112x112, EchoNet's shape), written as an MJPG AVI."""
    video = generate_video(3, frames=100, difficulty="realistic").sample.video
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    write_avi(path, video, fps=50.0)
    return path


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _predict(clip, weights, out, *extra):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", str(clip), "--checkpoint", str(weights), "--out", str(out), "--no-overlay",
                  "--no-progress", "--spacing", "0.3", "0.3", *extra])
    return exit_info.value.code


def test_engines_agree_on_masks_volumes_and_phases(tmp_path, weights, clip):
    pytest.importorskip("onnxruntime")
    for engine in ("torch", "onnxruntime"):
        assert _predict(clip, weights, tmp_path / engine, "--engine", engine) == 0
    masks = {e: np.load(tmp_path / e / "clip" / "masks.npz")["masks"] for e in ("torch", "onnxruntime")}
    dice = frame_dice(masks["torch"], masks["onnxruntime"])
    assert masks["torch"].any() and dice.min() >= 0.995
    beats = {e: [(r["ed_frame"], r["es_frame"]) for r in _rows(tmp_path / e / "clip" / "beats.csv")]
             for e in ("torch", "onnxruntime")}
    assert beats["torch"] and beats["torch"] == beats["onnxruntime"]
    volume = {e: np.array([float(r["volume"]) for r in _rows(tmp_path / e / "clip" / "frames.csv")])
              for e in ("torch", "onnxruntime")}
    assert np.abs(volume["torch"] - volume["onnxruntime"]).max() <= 0.01 * volume["torch"].max()
    record = json.loads((tmp_path / "onnxruntime" / "run.json").read_text())
    assert record["engine"] == "onnxruntime" and record["precision"] == "fp32"
    assert json.loads((tmp_path / "torch" / "run.json").read_text())["engine"] == "torch"


def test_streaming_through_onnxruntime_matches_the_offline_engine(weights, clip):
    pytest.importorskip("onnxruntime")
    segmenter = load_segmenter(weights, engine="onnxruntime")
    video = generate_video(5, frames=16, difficulty="realistic").sample.video
    offline = segmenter.probs(video)
    stream = segmenter.stream()
    outputs = [out for frame in video if (out := stream.push(frame)) is not None] + stream.flush()
    assert [o.index for o in outputs] == list(range(len(video)))
    assert np.abs(np.stack([o.probs for o in outputs]) - offline).max() < 1e-5


def test_onnx_cache_is_reused_and_invalidated_when_the_weights_change(tmp_path):
    pytest.importorskip("onnxruntime")
    weights = _copy_of_builtin(tmp_path)
    first = load_segmenter(weights, engine="onnxruntime").engine.path
    made = first.stat().st_mtime_ns
    assert first.parent == weights.parent / ".echoseg-onnx"
    again = load_segmenter(weights, engine="onnxruntime").engine.path
    assert again == first and first.stat().st_mtime_ns == made  # not exported again

    model, info = load_model(weights)
    with torch.no_grad():
        model.head.bias += 3.0  # other weights under the same file name: larger masks
    save_model(weights, model, info.model, info.model_cfg, extra=info.extra)
    changed = load_segmenter(weights, engine="onnxruntime")
    assert changed.engine.path != first and not first.exists()
    video = generate_video(5, frames=16, difficulty="realistic").sample.video
    torch_probs = load_segmenter(weights).probs(video)
    assert np.abs(changed.probs(video) - torch_probs).max() < 1e-4


def test_auto_records_what_it_measured_and_chose(tmp_path, weights, clip):
    pytest.importorskip("onnxruntime")
    assert _predict(clip, weights, tmp_path / "auto", "--engine", "auto") == 0
    record = json.loads((tmp_path / "auto" / "run.json").read_text())
    measured = record["engine_auto"]["frames_per_s"]
    assert record["engine_requested"] == "auto" and set(measured) == {"torch", "onnxruntime"}
    assert min(measured.values()) > 0 and record["engine"] == max(measured, key=measured.get)


def test_missing_onnxruntime_is_one_line_naming_the_extra(tmp_path, weights, clip, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    assert _predict(clip, weights, tmp_path / "ort", "--engine", "onnxruntime") == 2
    err = capsys.readouterr().err
    assert "pip install 'echoseg[onnx]'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _predict(clip, weights, tmp_path / "auto", "--engine", "auto") == 0  # auto falls back to PyTorch
    record = json.loads((tmp_path / "auto" / "run.json").read_text())
    assert record["engine"] == "torch" and "onnxruntime is not installed" in record["engine_auto"]["reason"]


def test_engine_options_that_cannot_go_together_are_refused(tmp_path, weights, clip, capsys):
    assert _predict(clip, weights, tmp_path / "a", "--engine", "torch", "--int8") == 2
    assert "--int8 runs in ONNX Runtime" in capsys.readouterr().err
    assert _predict(clip, weights, tmp_path / "b", "--engine", "onnxruntime", "--bf16") == 2
    assert "--bf16 is PyTorch autocast" in capsys.readouterr().err
    assert _predict(clip, weights, tmp_path / "c", "--int8-calibration", str(clip)) == 2
    assert "--int8-calibration is for --int8" in capsys.readouterr().err


@pytest.mark.slow  # quantization and its check: about 20 s here
def test_int8_reports_its_agreement_and_is_refused_below_the_bar(weights, monkeypatch):
    pytest.importorskip("onnxruntime")
    segmenter = load_segmenter(weights, engine="onnxruntime", int8=True)
    check = segmenter.describe()["int8_check"]
    assert segmenter.engine.precision == "int8" and check["dice_vs_fp32_mean"] >= onnx_cache.INT8_MIN_DICE
    assert check["check_frames"] > 0 and 0 < check["dice_vs_fp32_min_frame"] <= check["dice_vs_fp32_mean"]
    monkeypatch.setattr(onnx_cache, "INT8_MIN_DICE", 1.01)  # a bar no int8 model reaches: refused, from the cache
    with pytest.raises(EchosegError, match="not equivalent"):
        load_segmenter(weights, engine="onnxruntime", int8=True)


def test_exported_onnx_takes_any_batch_size(tmp_path, weights, capsys):
    ort = pytest.importorskip("onnxruntime")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["export", "--checkpoint", str(weights), "--onnx", str(tmp_path / "m.onnx")])
    assert exit_info.value.code == 0 and "input Bx3x64x64" in capsys.readouterr().out
    model, _ = load_model(weights)
    x = torch.rand(5, 3, 64, 64)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"frames": x.numpy()})[0]
    assert got.shape == (5, 1, 64, 64) and np.abs(got - expected).max() < 1e-3


def test_evaluate_scores_the_same_through_either_engine(tmp_path, weights):
    pytest.importorskip("onnxruntime")
    from echoseg.data.synthetic import generate_dataset, write_synthetic

    write_synthetic(tmp_path / "data", generate_dataset(2, seed=4, frames=24, difficulty="realistic"))
    dice = {}
    for engine in ("torch", "onnxruntime"):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["evaluate", "--checkpoint", str(weights), "--data", str(tmp_path / "data"), "--format",
                      "synthetic", "--split", "all", "--out", str(tmp_path / engine), "--no-progress",
                      "--engine", engine])
        assert exit_info.value.code == 0
        doc = json.loads((tmp_path / engine / "metrics.json").read_text())
        dice[engine] = doc["groups"]["all_frames"]["dice_mean"]["mean"]
    assert dice["torch"] > 0.5 and abs(dice["torch"] - dice["onnxruntime"]) < 1e-3


def test_a_damaged_cached_onnx_file_is_one_line_and_auto_falls_back(tmp_path, clip, capsys):
    pytest.importorskip("onnxruntime")
    weights = _copy_of_builtin(tmp_path)
    cached = load_segmenter(weights, engine="onnxruntime").engine.path
    cached.write_bytes(b"not onnx")
    assert _predict(clip, weights, tmp_path / "ort", "--engine", "onnxruntime") == 2
    err = capsys.readouterr().err
    assert "ONNX Runtime cannot load it" in err and "delete it" in err and "Traceback" not in err
    assert _predict(clip, weights, tmp_path / "auto", "--engine", "auto") == 0
    assert json.loads((tmp_path / "auto" / "run.json").read_text())["engine"] == "torch"


def test_bench_times_bfloat16_autocast_and_checks_its_masks(weights):
    # bf16 autocast is PyTorch's fastest CPU mode where the CPU has bfloat16 instructions: the engine bench
    # must time it beside the others and say how far its masks are from float32's.
    from echoseg.inference import benchmark

    segmenter = load_segmenter(weights)
    check = onnx_cache.synthetic_calibration(segmenter.input_size, n_videos=1).videos[0][:16]
    rows = benchmark.time_engines(segmenter, ["nchw", "bf16"], [4], {}, frames=8, reps=1, check_video=check)
    bf16 = {r.mode: r for r in rows}["bf16"]
    assert bf16.engine == "torch" and bf16.frames_per_s > 0
    assert 0.9 < bf16.dice_vs_torch < 1.0  # bfloat16 rounding moves a few border pixels, not the masks
