"""issue 26 item 1: ablation and compare never reuse a run folder trained with other settings (cv: test_protocols)."""


import pytest

from test_data_cli import _run
from test_protocols import TINY, data_root, tiny_sets  # noqa: F401 (data_root: a fixture)


@pytest.mark.parametrize("command, folder", [
    (["ablation", "--variants", "unet"], "runs/unet/seed0/fold0"),
    (["compare", "--models", "unet", "--reference", "unet", "--no-timing"], "runs/unet/fold0"),
])
def test_ablation_and_compare_refuse_a_run_folder_trained_with_other_settings(command, folder, data_root, tmp_path,  # noqa: F811
                                                                               capsys):
    from echoseg.config import dump_yaml
    from echoseg.training.config import resolve_config

    out = tmp_path / "protocol"
    # A run folder left by an earlier invocation with 7 training steps; this one asks for 2.
    earlier = resolve_config("cpu", TINY + ["optim.steps=7", "model.name=unet", "model.window=1"])
    (out / folder / "train").mkdir(parents=True)
    (out / folder / "train" / "config.yaml").write_text(dump_yaml(earlier))
    code, _, err = _run([*command, "--data", str(data_root), "--format", "synthetic", "--config", "cpu", "--out", str(out),
                      "--folds", "0", "--no-progress", *tiny_sets()], capsys)
    assert code == 2, err
    assert "optim.steps 7 -> 2" in err and str(out / folder) in err and "\n" not in err.strip()
    assert not (out / folder / "run.json").exists()
