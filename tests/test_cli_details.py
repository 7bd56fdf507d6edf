"""issue 26, item 22: the smaller things a new user met (refused runs leaving folders, options that
were silently replaced, help text, slow commands that have nothing to do)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from echoseg.cli import main
from readers_fixtures import write_echonet

N = 12
TINY = ["--config", "cpu", "--no-progress", "--set", "model.name=unet", "--set", "model.window=1",
        "--set", "model.settings.width=0.125", "--set", "data.input_size=[32,32]", "--set", "optim.steps=1",
        "--set", "data.num_workers=0", "--set", "runtime.threads=1"]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_a_refused_training_run_leaves_no_folder_or_cache(tmp_path, capsys):
    root = tmp_path / "echonet"
    cases = [{"name": f"C{i}", "n_frames": N, "traced": [0, N // 2], "split": "TRAIN" if i < 2 else "VAL"}
             for i in range(4)]
    write_echonet(root, cases)
    for name in ("C0", "C3"):  # half the cases unreadable: more than data.max_bad_fraction (5 %)
        (root / "Videos" / f"{name}.avi").write_bytes(b"\x00" * 100)
    out = tmp_path / "runs" / "new"
    code, _, err = _run(["train", "--data", root, "--format", "echonet", "--out", out, *TINY], capsys)
    assert code == 2 and "2 of 4 cases" in err
    assert not (tmp_path / "runs").exists()  # neither --out nor the parent it would have made

    kept = tmp_path / "mine"  # a folder the user made keeps existing (and empty), without a cache
    kept.mkdir()
    code, _, err = _run(["train", "--data", root, "--format", "echonet", "--out", kept, *TINY], capsys)
    assert code == 2
    assert kept.is_dir() and list(kept.iterdir()) == []


def test_bench_quick_keeps_the_sizes_given_and_says_so(capsys, tmp_path):
    out = tmp_path / "bench.json"
    code, _, err = _run(["bench", "model", "--quick", "--variants", "unet", "--k", "1", "--size", "32",
                         "--no-assc", "--no-preset", "--no-ratios", "--modes", "fp32", "--json", out], capsys)
    assert code == 0, err
    assert "--quick: keeping --size 32, --k 1 as given" in err
    import json

    result = json.loads(out.read_text())
    assert result["size"] == 32 and result["width"] == 0.125 and result["frames"] == 4
    assert {row["k"] for row in result["models"]} == {1}


def test_bench_json_is_checked_before_the_benchmark(capsys, tmp_path, monkeypatch):
    import echoseg.models.benchmark as benchmark

    def must_not_run(*args, **kwargs):
        raise AssertionError("the benchmark ran before --json was checked")

    monkeypatch.setattr(benchmark, "run_benchmark", must_not_run)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for target, words in ((tmp_path, "is a folder"), (blocker / "b.json", "a_file: exists and is not a folder")):
        code, _, err = _run(["bench", "model", "--quick", "--json", target], capsys)
        assert code == 2 and words in err and "Traceback" not in err


def test_ablation_help_prints_a_plain_percent_sign(capsys):
    code, out, _ = _run(["ablation", "--help"], capsys)
    assert code == 0
    assert "95% confidence" in out and "%%" not in out


def _imports_after(argv: list[str]) -> set[str]:
    """The top-level modules imported by running `echoseg ARGV` in a fresh interpreter."""
    script = ("import sys\nfrom echoseg.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    return set(done.stderr.strip().splitlines()[-1].split())


def test_export_with_nothing_to_do_says_so_without_loading_torch():
    assert "torch" not in _imports_after(["export", "--checkpoint", "x"])


def test_version_does_not_import_monai():
    modules = _imports_after(["version"])
    assert "monai" not in modules and "torch" in modules  # torch: for the device line


def test_data_summary_finds_echosegs_own_synthetic_dataset_in_echonets_tracing_order(tmp_path, capsys):
    root = tmp_path / "synth"
    code, _, err = _run(["synth", root, "--videos", "3", "--frames", "16", "--size", "32", "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = _run(["data", "summary", root, "--format", "echonet", "--no-progress"], capsys)
    assert code == 0, err
    assert "listed first in 0, last in 3 videos; 0 disagree" in out


@pytest.mark.parametrize("level", [0, 255, 128])
def test_a_flat_video_gets_the_same_reason_whatever_its_grey_level(level):
    import numpy as np

    from echoseg.inference.views import model_view

    frames = np.full((6, 300, 400), level, np.uint8)  # larger than a pre-cropped EchoNet frame
    view = model_view(frames, (64, 64), path="flat.avi")
    assert view.state == "no fan found" and view.crop is None
    assert view.note == (f"no ultrasound fan found: every frame is one flat grey level ({level}), no image: whole "
                         "frame resized to the model's 64x64")


@pytest.mark.parametrize("pixel_spacing, region_cm, said", [
    ((0.0, 0.3), None, "PixelSpacing 0 x 0.3 mm"),
    ((-0.2, -0.2), None, "PixelSpacing -0.2 x -0.2 mm"),
    (None, (0.0, 0.0), "ultrasound region PhysicalDelta 0 x 0 cm"),
])
def test_dicom_spacing_that_is_not_one_is_dropped_with_a_note(tmp_path, pixel_spacing, region_cm, said):
    import numpy as np

    from echoseg.data.inputs import read_video
    from test_data_inputs import write_dicom

    video = np.random.default_rng(0).integers(0, 255, (3, 24, 32), dtype=np.uint8)
    path = write_dicom(tmp_path / "clip.dcm", video, pixel_spacing=pixel_spacing, region_spacing_cm=region_cm)
    read = read_video(path)
    assert read.spacing_mm is None
    assert [note for note in read.notes if said in note] == [
        f"{said} is not a pixel spacing: ignored (areas in pixels; --spacing DY DX gives one)"]


def test_a_usable_region_spacing_still_wins_over_a_bad_pixel_spacing(tmp_path):
    import numpy as np

    from echoseg.data.inputs import read_video
    from test_data_inputs import write_dicom

    video = np.zeros((2, 16, 16), np.uint8)
    read = read_video(write_dicom(tmp_path / "c.dcm", video, pixel_spacing=(0, 0), region_spacing_cm=(0.03, 0.04)))
    assert read.spacing_mm == pytest.approx((0.3, 0.4)) and read.notes == []
