"""`echoseg compare`: same folds for every model, per-model configs, paired CIs, tables, resume.

Tiny budget (6 synthetic videos of 16 frames at 32x32, width 0.125, 2 training steps): the numbers
are meaningless as accuracy; the tests check the bookkeeping around them."""

import json

import pytest

from echoseg.cli import main
from echoseg.data.synthetic import generate_dataset, write_synthetic
from echoseg.errors import EchosegError
from echoseg.training.config import resolve_config
from echoseg.workflows import engine
from echoseg.workflows.compare import (
    Efficiency,
    compare_config,
    ef_table_row,
    paired_vs_reference,
    parse_model_settings,
    run_compare,
)

TINY = ["model.settings.width=0.125", "data.input_size=[32,32]", "optim.steps=2", "data.num_workers=0",
        "runtime.val_interval=2", "data.batch_labeled=2", "data.batch_unlabeled=2", "optim.lr=0.003"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare") / "data"
    write_synthetic(root, generate_dataset(6, seed=3, frames=16, size=32, difficulty="easy"))
    return root


def test_model_configs_share_the_schedule_and_differ_where_the_method_does():
    base = resolve_config("cpu", ["model.settings.decoder=unet", "optim.steps=123"])
    sscf = compare_config(base, "sscf")
    assert sscf.model.settings == {"width": 0.25, "decoder": "unet"} and sscf.mean_teacher.enabled
    dff = compare_config(base, "dff", {"flow_weight": 0.0})
    assert dff.model.name == "dff" and dff.model.window is None  # the model's own default window
    assert dff.model.settings == {"width": 0.25, "flow_weight": 0.0} and not dff.mean_teacher.enabled
    assert compare_config(base, "dff", competitors_mean_teacher=True).mean_teacher.enabled
    assert compare_config(base, "simlvseg3d", {"window": 5}).model.window == 5
    unet = compare_config(base, "unet")
    assert unet.model.window == 1 and not unet.mean_teacher.enabled  # the paper's Table 2 U-Net row
    for config in (sscf, dff, unet):
        assert config.optim.steps == 123 and config.augment == base.augment and config.data == base.data
    assert base.model.name == "sscf" and base.model.settings == {"width": 0.25, "decoder": "unet"}  # untouched


def test_model_settings_parse_and_errors():
    assert parse_model_settings(["simlvseg3d.window=5", "dff.flow_weight=0", "dff.smooth_weight=0.5"]) == {
        "simlvseg3d": {"window": 5}, "dff": {"flow_weight": 0, "smooth_weight": 0.5}}
    for bad in ("dff=1", "window=5", "dff.flow_weight"):
        with pytest.raises(EchosegError, match="MODEL.KEY=VALUE"):
            parse_model_settings([bad])


@pytest.mark.parametrize("kwargs, message", [
    ({"models": ["sscf", "nope"]}, "unknown model.*valid models"),
    ({"models": ["sscf", "dff"], "model_settings": {"dff": {"window": 1}}}, "model dff .*window"),
    ({"models": ["sscf", "dff"], "model_settings": {"dff": {"colour": 1}}}, "model dff .*colour"),
    ({"models": ["dff", "planet"]}, "reference model 'sscf' is not among"),
    ({"models": ["sscf", "sscf"]}, "listed twice"),
])
def test_bad_requests_fail_before_any_training(data_root, tmp_path, kwargs, message):
    config = resolve_config(None, TINY)
    with pytest.raises(EchosegError, match=message):
        run_compare(config, data_root, "synthetic", tmp_path / "out", folds=2, **kwargs)
    assert not (tmp_path / "out" / "runs").exists()


def test_compare_pairs_models_by_video_in_percent_points_and_ef_error():
    def case(arm, video, dice, ef_pred):
        return engine.CaseResult(video, arm, 0, 0, {"dice": dice, "hd": 3.0, "auc": 0.9, "ef_pred": ef_pred,
                                                    "ef_reference": 50.0})

    cases = [case("sscf", "v1", 0.8, 60.0), case("sscf", "v2", 0.8, 40.0),
             case("dff", "v1", 0.7, 55.0), case("dff", "v2", 0.7, 40.0), case("dff", "v9", 0.1, 50.0)]
    diffs = paired_vs_reference(cases, ["sscf", "dff"], "sscf", n_boot=100)
    assert set(diffs) == {"dff"}
    assert diffs["dff"]["dice"]["n"] == 2 and diffs["dff"]["dice"]["mean"] == pytest.approx(-10.0)  # % points
    assert diffs["dff"]["ef_abs_error"]["mean"] == pytest.approx(((5 - 10) + (10 - 10)) / 2)
    assert paired_vs_reference(cases, ["sscf", "dff"], "planet", n_boot=100) == {}  # no reference runs
    ef = ef_table_row([c for c in cases if c.arm == "sscf"])
    assert ef["n"] == 2 and ef["bias"] == pytest.approx(0.0) and ef["mae"] == pytest.approx(10.0)


@pytest.mark.slow  # 4 training runs with reports: minutes on 2 shared cores (the CLI test below is the quick one)
def test_compare_trains_every_model_on_the_same_folds_writes_the_tables_and_resumes(data_root, tmp_path, capsys,
                                                                                    monkeypatch):
    out = tmp_path / "cmp"
    config = resolve_config(None, TINY)
    eff = Efficiency(size=32, width=0.125, frames=0)
    result = run_compare(config, data_root, "synthetic", out, models=["sscf", "dff"], folds=2, efficiency=eff,
                         n_boot=50)
    assert not result.failed and len(result.runs) == 4
    splits = {m: [json.loads((out / "runs" / m / f"fold{i}" / "split.json").read_text()) for i in (0, 1)]
              for m in ("sscf", "dff")}
    assert splits["sscf"] == splits["dff"]  # the same folds for every model
    summary = json.loads((out / "compare_summary.json").read_text())
    assert summary["windows"] == {"sscf": 3, "dff": 3}
    assert summary["configs"]["dff"]["mean_teacher"]["enabled"] is False
    assert summary["configs"]["dff"]["model"]["settings"] == {"width": 0.125}
    assert summary["configs"]["sscf"]["mean_teacher"]["enabled"] is True
    tested = sum(len(s["test"]) for s in splits["sscf"])
    assert summary["paired_vs_reference"]["dff"]["dice"]["n"] == tested == 6
    assert summary["efficiency"]["dff"]["ms_cpu"] is None and summary["efficiency"]["dff"]["params_m"] > 0
    tables = (out / "compare_tables.md").read_text()
    assert "## Segmentation (Table 3 form)" in tables and "## Ejection fraction (Table 6 form)" in tables
    assert "| DFF |" in tables and "85.63 ± 0.36" in tables and "200.6" in tables  # the paper's numbers
    assert "## Efficiency (Table 7 form)" in tables
    # HD as the ablation shows it (missed frames counted, penalised HD and its CI), signs and units named
    assert "| HD missed | HD pen. (" in tables and "ΔHD pen. [95% CI]" in tables
    assert "hd_penalised" in summary["paired_vs_reference"]["dff"] and "hd" not in summary["paired_vs_reference"]["dff"]
    assert "bias (pred − ref) ± std" in tables and "FLOPs = 2 x MACs" in tables

    # rerun: every run is finished, nothing trains again, the efficiency file is reused
    monkeypatch.setattr(engine, "run_one", _must_not_train(engine.run_one))
    measured = (out / "efficiency" / "dff.json").stat().st_mtime_ns
    again = run_compare(config, data_root, "synthetic", out, models=["sscf", "dff"], folds=2, efficiency=eff,
                        n_boot=50)
    assert all(o.skipped for o in again.runs)
    assert (out / "efficiency" / "dff.json").stat().st_mtime_ns == measured
    assert json.loads((out / "compare_summary.json").read_text())["aggregate"] == summary["aggregate"]


def _must_not_train(run_one):
    def guarded(*args, **kwargs):
        from echoseg.workflows.protocols import is_finished

        folder = args[4]
        assert is_finished(folder), f"{folder} trained again"
        return run_one(*args, **kwargs)

    return guarded


def test_compare_cli_prints_the_tables_and_where_it_wrote(data_root, tmp_path, capsys):
    argv = ["compare", "--data", str(data_root), "--format", "synthetic", "--config", "cpu", "--out",
            str(tmp_path / "cli"), "--models", "sscf,planet", "--folds", "2", "--limit-folds", "1",
            *[a for o in TINY for a in ("--set", o)], "--no-timing", "--bootstrap", "20", "--no-progress",
            "--model-set", "planet.coherence_weight=0.2"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "| PLANet |" in out and "compare_tables.md" in out
    summary = json.loads((tmp_path / "cli" / "compare_summary.json").read_text())
    assert summary["configs"]["planet"]["model"]["settings"] == {"width": 0.125, "coherence_weight": 0.2}
    assert len(summary["runs"]) == 2  # --limit-folds 1
    assert "vs SSCF" in out and summary["paired_vs_reference"]["planet"]["dice"]["n"] > 0
    # a rerun finds every run finished
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    rerun = json.loads((tmp_path / "cli" / "compare_summary.json").read_text())
    assert all(r["skipped"] for r in rerun["runs"]) and rerun["aggregate"] == summary["aggregate"]
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--data", str(data_root), "--format", "synthetic", "--config", "cpu", "--out",
              str(tmp_path / "bad"), "--folds", "1"])
    assert exit_info.value.code == 2
    assert "--folds must be 0" in capsys.readouterr().err
    # an interim look: a model added to the campaign but not trained yet is listed, not trained
    with pytest.raises(SystemExit) as exit_info:
        main([*argv[:argv.index("--models") + 1], "sscf,planet,dff", *argv[argv.index("--models") + 2:],
              "--finished-only"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "1 of 3 runs not run yet (--finished-only)" in out and "| PLANet |" in out
    assert not (tmp_path / "cli" / "runs" / "dff" / "fold0" / "run.json").exists()
    assert "Not run yet (--finished-only): 1 of 3 runs: dff fold 0" in (tmp_path / "cli" / "compare_tables.md").read_text()
