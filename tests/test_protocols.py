"""`echoseg cv` and `echoseg ablation`: folds, per-run reports, aggregation, resume, failures.

Tiny budget: 6 synthetic videos of 16 frames at 32x32, a width-0.125 network, 2 training steps.
The numbers are meaningless as accuracy; the tests check the bookkeeping around them.
"""

import json
import math

import numpy as np
import pytest
import yaml

from echoseg.cli import main
from echoseg.data.readers import open_dataset
from echoseg.data.schema import CaseRecord
from echoseg.data.splits import Fold, dataset_fold, plan_folds
from echoseg.data.synthetic import generate_dataset, write_synthetic
from echoseg.errors import DataError, EchosegError
from echoseg.models.variants import ABLATION_VARIANTS
from echoseg.training.api import split_cases
from echoseg.training.config import resolve_config
from echoseg.workflows import ablation, engine
from echoseg.workflows.ablation import AblationRow, ablation_rows, run_ablation, variant_config
from echoseg.workflows.cv import run_cv
from echoseg.workflows.protocols import RunOutcome, run_one, table_metrics

TINY = ["model.settings.width=0.125", "data.input_size=[32,32]", "optim.steps=2", "data.num_workers=0",
        "runtime.val_interval=2", "data.batch_labeled=2", "data.batch_unlabeled=2", "optim.lr=0.003"]


def run_cli(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def tiny_sets():
    return [arg for override in TINY for arg in ("--set", override)]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocols") / "data"
    write_synthetic(root, generate_dataset(6, seed=3, frames=16, size=32, difficulty="easy"))
    return root


# ----------------------------------------------------------------------------- split file (trainer)


def _records(n):
    return [CaseRecord(case_id=f"c{i}", patient_id=f"p{i}", split="train") for i in range(n)]


def test_split_file_gives_exactly_the_listed_train_and_val_cases(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["c3", "c0"], "val": ["c4"], "test": ["c1", "c2"]}))
    config = resolve_config(None, [f"data.split_file={path}"])
    assert split_cases(_records(5), config) == (["c3", "c0"], ["c4"])  # test cases never trained on
    assert split_cases(_records(5), resolve_config(None))[0] != ["c3", "c0"]  # default behaviour unchanged


@pytest.mark.parametrize("listing, message", [
    ({"train": ["c0", "nope"], "val": []}, "not in the dataset"),
    ({"train": ["c0", "c1"], "val": ["c1"]}, "in both train and val"),
    (["c0"], "expected a JSON object"),
])
def test_split_file_errors_name_the_file_and_the_problem(tmp_path, listing, message):
    path = tmp_path / "split.json"
    path.write_text(json.dumps(listing))
    with pytest.raises(DataError, match=message) as info:
        split_cases(_records(3), resolve_config(None, [f"data.split_file={path}"]))
    assert info.value.path == path


# ----------------------------------------------------------------------------- cross-validation


def test_cv_reports_every_fold_aggregates_them_and_rerun_skips_finished_folds(data_root, tmp_path, capsys, caplog):
    out = tmp_path / "cv"
    argv = ["cv", "--data", str(data_root), "--format", "synthetic", "--config", "cpu", "--out", str(out),
            "--folds", "3", "--seed", "1", "--no-progress", *tiny_sets()]
    assert run_cli(argv) == 0
    printed = capsys.readouterr().out
    assert "| fold0 |" in printed and "| mean ± std |" in printed

    # Patient-level folds: every patient tested exactly once, never trained on in its own fold.
    patient = {r.case_id: r.patient_id for r in open_dataset(data_root, "synthetic").records()}
    splits = [json.loads((out / f"fold{i}" / "split.json").read_text()) for i in range(3)]
    tested = [patient[c] for s in splits for c in s["test"]]
    assert sorted(tested) == sorted(patient.values())
    for s in splits:
        assert not {patient[c] for c in s["test"]} & {patient[c] for c in s["train"] + s["val"]}
        assert s["val"], "each fold holds out val patients for checkpoint selection"

    # Each fold: its own report, its metrics read back from metrics.json; the aggregate is their mean.
    fold_values = []
    for i in range(3):
        folder = out / f"fold{i}"
        assert (folder / "report.html").is_file() and (folder / "per_case.csv").is_file()
        config = yaml.safe_load((folder / "train" / "config.yaml").read_text())
        assert config["data"]["split_file"] == str((folder / "split.json").resolve())
        metrics = table_metrics(json.loads((folder / "metrics.json").read_text()))
        per_case = (folder / "per_case.csv").read_text().splitlines()
        assert len(per_case) - 1 == len(splits[i]["test"])  # the fold's test cases, nothing else
        fold_values.append(metrics)
    summary = json.loads((out / "cv_summary.json").read_text())
    for key in ("auc", "dice"):
        values = [m[key] for m in fold_values]
        assert summary["aggregate"][key]["mean"] == pytest.approx(float(np.mean(values)), abs=1e-12)
        assert summary["aggregate"][key]["std"] == pytest.approx(float(np.std(values, ddof=1)), abs=1e-12)
        assert summary["aggregate"][key]["values"] == pytest.approx(values)
    assert "mean ± std" in (out / "cv_summary.md").read_text()

    # Rerun: finished folds are skipped (files untouched); a fold interrupted after training (no
    # run.json, no report) resumes its training run instead of refusing the existing folder.
    stamps = {i: (out / f"fold{i}" / "run.json").stat().st_mtime_ns for i in range(2)}
    (out / "fold2" / "run.json").unlink()
    (out / "fold2" / "report.html").unlink()
    caplog.clear()
    with caplog.at_level("INFO"):
        assert run_cli(argv) == 0
    assert {i: (out / f"fold{i}" / "run.json").stat().st_mtime_ns for i in range(2)} == stamps
    assert "fold0: finished earlier, skipped" in caplog.text
    assert "fold2: resuming training" in caplog.text
    assert (out / "fold2" / "report.html").is_file()
    rerun = json.loads((out / "cv_summary.json").read_text())
    assert rerun["aggregate"]["auc"]["mean"] == pytest.approx(summary["aggregate"]["auc"]["mean"])

    # Another fold seed plans other folds: refused rather than mixing two plans in one folder.
    capsys.readouterr()
    assert run_cli([*argv[:-len(tiny_sets())], "--seed", "2", *tiny_sets()]) == 2
    assert "holds runs of other folds" in capsys.readouterr().err


def test_cv_failed_fold_is_logged_recorded_and_the_others_go_on(data_root, tmp_path, monkeypatch):
    import echoseg.training.api as api

    real_train = api.train

    def failing_on_fold0(config, *args, **kwargs):
        if "fold0" in config.data.split_file:
            raise RuntimeError("simulated crash")
        return real_train(config, *args, **kwargs)

    monkeypatch.setattr(api, "train", failing_on_fold0)
    config = resolve_config("cpu", TINY)
    result = run_cv(config, data_root, "synthetic", tmp_path / "cv", folds=3, limit_folds=2)
    assert [o.name for o in result.failed] == ["fold0"]
    assert "simulated crash" in (tmp_path / "cv" / "fold0" / "run_error.txt").read_text()
    assert (tmp_path / "cv" / "fold1" / "report.html").is_file()
    summary = json.loads((tmp_path / "cv" / "cv_summary.json").read_text())
    assert summary["folds"][0]["error"] == "RuntimeError: simulated crash"
    assert summary["aggregate"]["auc"]["n"] == 1
    assert "Failed folds: fold0" in (tmp_path / "cv" / "cv_summary.md").read_text()


# ----------------------------------------------------------------------------- ablation


def test_ablation_table_has_every_variant_same_split_and_unet_supervised_only(data_root, tmp_path, capsys):
    out = tmp_path / "ablation"
    code = run_cli(["ablation", "--data", str(data_root), "--format", "synthetic", "--config", "cpu",
                    "--out", str(out), "--seeds", "0", "--no-progress", *tiny_sets()])
    assert code == 0
    printed = capsys.readouterr().out
    for variant in ABLATION_VARIANTS:
        assert f"| {variant} |" in printed
    assert "DC" in printed and "HD" in printed and "AUC" in printed and "EF corr" in printed
    # rows table, metrics table (header + one row per variant each), CIs of the 4 others against baseline
    assert sum(line.startswith("| ") for line in printed.splitlines()) == (1 + 5) * 2 + 1 + 4
    assert "| sscf − baseline |" in printed and "95% CI" in printed
    table = (out / "ablation_table.md").read_text()
    assert all(f"| {v} |" in table for v in ABLATION_VARIANTS)

    runs = {v: out / "runs" / v / "seed0" / "fold0" for v in ABLATION_VARIANTS}
    configs = {v: yaml.safe_load((d / "train" / "config.yaml").read_text()) for v, d in runs.items()}
    assert configs["unet"]["mean_teacher"]["enabled"] is False and configs["unet"]["model"]["window"] == 1
    for v in ("baseline", "baseline_tce", "baseline_bssf", "sscf"):
        assert configs[v]["mean_teacher"]["enabled"] is True and configs[v]["model"]["window"] == 3
        assert configs[v]["model"]["name"] == v
        assert configs[v]["model"]["settings"]["decoder"] == "unet"  # one decoder for every row
        # Same budget and data for every row: configs differ only in model/mean teacher/split file.
        for section in ("optim", "augment", "runtime"):
            assert configs[v][section] == configs["unet"][section]
    splits = {json.dumps({k: json.loads((d / "split.json").read_text())[k] for k in ("train", "val", "test")})
              for d in runs.values()}
    assert len(splits) == 1  # one split for all variants
    summary = json.loads((out / "ablation_summary.json").read_text())
    for v, folder in runs.items():
        run = json.loads((folder / "run.json").read_text())
        row = summary["rows"][v]["aggregate"]
        assert row["dice"]["values"] == pytest.approx([run["metrics"]["dice"]])
        assert row["auc"]["mean"] == pytest.approx(run["metrics"]["auc"])


def test_ablation_k_sweep_times_each_run_with_the_model_benchmark(data_root, tmp_path, capsys):
    code = run_cli(["ablation", "--data", str(data_root), "--format", "synthetic", "--config", "cpu",
                    "--out", str(tmp_path / "k"), "--k", "1,3", "--seeds", "0", "--time-frames", "4",
                    "--no-progress", *tiny_sets()])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ms/frame" in printed and "| sscf k=1 |" in printed and "| sscf k=3 |" in printed
    summary = json.loads((tmp_path / "k" / "ablation_summary.json").read_text())
    for name in ("sscf k=1", "sscf k=3"):
        ms = summary["rows"][name]["aggregate"]["ms_per_frame"]["mean"]
        assert 0 < ms < 10_000
    config = yaml.safe_load((tmp_path / "k" / "runs" / "sscf_k1" / "seed0" / "fold0" / "train" / "config.yaml")
                            .read_text())
    assert config["model"]["window"] == 1


def test_ablation_aggregates_over_seeds_after_averaging_each_seeds_folds(data_root, tmp_path, monkeypatch):
    """Seed s, fold f -> Dice 0.5 + 0.1 s + 0.01 f: each seed's value is its fold mean, then mean ± std."""

    def fake_run(config, fold, data_root, data_format, folder, **kwargs):
        value = 0.5 + 0.1 * config.runtime.seed + 0.01 * fold.index
        return RunOutcome(kwargs["name"], folder, {"dice": value, "hd": float("nan")}, unit="mm")

    monkeypatch.setattr(engine, "run_one", fake_run)
    config = resolve_config("cpu", TINY)
    result = run_ablation(config, data_root, "synthetic", tmp_path / "a", variants=["sscf", "unet"],
                          seeds=[0, 2], folds=3)
    row = result.summary["rows"]["sscf"]["aggregate"]["dice"]
    assert row["values"] == pytest.approx([0.51, 0.71])
    assert row["mean"] == pytest.approx(0.61) and row["std"] == pytest.approx(math.sqrt(0.02))
    assert result.summary["rows"]["unet"]["mean_teacher"] is False
    assert "| sscf | 0.610 ± 0.141 | – |" in result.table
    assert len(result.runs) == 2 * 2 * 3


# ----------------------------------------------------------------------------- pieces


def test_ablation_rows_and_variant_configs():
    assert [r.name for r in ablation_rows(["unet", "sscf"])] == ["unet", "sscf"]
    assert [r.name for r in ablation_rows(["unet", "baseline"], [1, 5])] == ["unet", "baseline k=1", "baseline k=5"]
    with pytest.raises(EchosegError, match="unknown variants"):
        ablation_rows(["sscf", "resnet"])
    base = resolve_config("cpu")
    unet = variant_config(base, AblationRow("unet", None), seed=4)
    assert (unet.model.name, unet.model.window, unet.mean_teacher.enabled, unet.runtime.seed) == ("unet", 1, False, 4)
    sscf5 = variant_config(base, AblationRow("sscf", 5), seed=0)
    assert (sscf5.model.window, sscf5.mean_teacher.enabled) == (5, True)
    assert base.model.name == "sscf" and base.model.window == 3  # the base config is not modified


def test_dataset_fold_keeps_the_dataset_split_and_carves_val_by_patient():
    records = ([CaseRecord(case_id=f"a{i}_{v}", patient_id=f"a{i}", split="train") for i in range(10) for v in "xy"]
               + [CaseRecord(case_id="t0", patient_id="t0", split="test")])
    fold = dataset_fold(records, val_fraction=0.2, seed=0)
    assert isinstance(fold, Fold) and fold.test == ["t0"] and fold.source == "dataset"
    assert len(fold.val) == 4 and len(fold.train) == 16  # 2 of 10 patients, both views each
    assert not {c.split("_")[0] for c in fold.val} & {c.split("_")[0] for c in fold.train}
    with pytest.raises(EchosegError, match="no test split"):
        dataset_fold(records[:-1])


def test_a_runs_weights_depend_on_its_seed_not_on_the_runs_before_it(data_root, tmp_path):
    from safetensors.numpy import load_file

    config = variant_config(resolve_config("cpu", TINY), AblationRow("unet", None), seed=5)
    fold = dataset_fold(open_dataset(data_root, "synthetic").records())
    weights = []
    for name in ("first", "second"):
        import torch

        torch.rand(1000)  # whatever ran before must not change the run's initial weights
        run_one(config, fold, data_root, "synthetic", tmp_path / name)
        weights.append(load_file(tmp_path / name / "train" / "checkpoints" / "last" / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_camus_official_split_lists_give_the_one_official_fold(tmp_path):
    from echoseg.data.synthetic import write_camus

    videos = generate_dataset(6, seed=5, frames=16, size=32, difficulty="easy")
    write_camus(tmp_path / "camus", videos, two_chamber=True)
    reader = open_dataset(tmp_path / "camus" / "database_nifti", "camus")
    folds = plan_folds(reader, "camus", k=5)
    assert len(folds) == 1 and folds[0].source == "official"
    records = {r.case_id: r for r in reader.records()}
    for part, split in ((folds[0].train, "train"), (folds[0].val, "val"), (folds[0].test, "test")):
        assert part and all(records[c].split == split for c in part)  # the lists as written
    patients_2ch_4ch = {records[c].patient_id for c in folds[0].test}
    assert len(folds[0].test) == 2 * len(patients_2ch_4ch)  # both views of a test patient are tested


def test_ablation_prints_paired_bootstrap_cis_against_the_baseline(data_root, tmp_path, monkeypatch):
    """sscf beats baseline by 0.02 Dice on every video (plus noise); supervised rows lose 0.05."""
    rng = np.random.default_rng(0)
    videos = [f"v{i}" for i in range(30)]
    base = {v: 0.85 + 0.05 * rng.standard_normal() for v in videos}
    seen = {}

    def fake_run(config, fold, data_root, data_format, folder, **kwargs):
        seen[kwargs["name"]] = (config.model.settings.get("decoder"), config.mean_teacher.enabled,
                                config.data.label_fraction)
        gain = 0.02 if config.model.name == "sscf" else 0.0
        gain -= 0.0 if config.mean_teacher.enabled else 0.05
        dice = {v: base[v] + gain + 0.002 * rng.standard_normal() for v in videos}
        return RunOutcome(kwargs["name"], folder, {"dice": float(np.mean(list(dice.values())))}, unit="px",
                          per_video={"dice": dice, "hd_penalised": {v: 3.0 for v in videos}})

    monkeypatch.setattr(engine, "run_one", fake_run)
    config = resolve_config("cpu", TINY)
    result = run_ablation(config, data_root, "synthetic", tmp_path / "a", variants=["baseline", "sscf"],
                          seeds=[0, 1], mean_teacher="both", label_fractions=[0.125])
    assert set(seen.values()) == {("unet", True, 0.125), ("unet", False, 0.125)}
    cis = {c["label"]: c for c in result.summary["comparisons"]}
    win = cis["sscf MT labels=0.125 − baseline MT labels=0.125"]["dice"]
    assert win["n"] == 30 and win["low"] > 0.015 and win["high"] < 0.025 and win["verdict"] == "better"
    teacher = cis["sscf MT labels=0.125 − sscf supervised labels=0.125"]["dice"]
    assert teacher["mean"] == pytest.approx(0.05, abs=0.002) and teacher["verdict"] == "better"
    same_hd = cis["sscf MT labels=0.125 − baseline MT labels=0.125"]["hd_penalised"]
    assert same_hd["mean"] == 0 and same_hd["verdict"] == "no difference shown"
    table = (tmp_path / "a" / "ablation_table.md").read_text()
    assert "| sscf MT labels=0.125 | unet | 3 | on | 0.125 |" in table
    assert "| sscf supervised labels=0.125 | unet | 3 | off | 0.125 |" in table
    # videos, seeds, the seeds x videos CI, and each seed's difference beside it
    assert "| sscf MT labels=0.125 − baseline MT labels=0.125 | 30 | 2 | +0.0" in result.table
    assert "| +0.020 / +0.020 |" in result.table


def test_ablation_rows_with_mean_teacher_and_label_fractions():
    rows = ablation_rows(["unet", "baseline", "sscf"], mean_teacher="both", label_fractions=[0.5, 1.0])
    assert [r.name for r in rows[:5]] == ["unet labels=0.5", "baseline MT labels=0.5", "baseline supervised labels=0.5",
                                          "sscf MT labels=0.5", "sscf supervised labels=0.5"]
    assert len(rows) == 10
    labels = [label for _, _, label in ablation.comparisons(rows[:5])]
    assert labels == ["unet labels=0.5 − baseline MT labels=0.5", "baseline MT labels=0.5 − baseline supervised "
                      "labels=0.5", "sscf MT labels=0.5 − baseline MT labels=0.5",
                      "sscf MT labels=0.5 − sscf MT labels=0.5".replace("MT labels=0.5 − sscf MT",
                                                                         "MT labels=0.5 − sscf supervised"),
                      "sscf supervised labels=0.5 − baseline supervised labels=0.5"]
    with pytest.raises(EchosegError, match="label fractions"):
        ablation_rows(["sscf"], label_fractions=[0])


def test_a_rerun_with_other_settings_is_refused_before_training_and_keeps_the_summary(data_root, tmp_path, capsys):
    # issue 26, item 1: the rerun used to skip the finished fold and write the new settings into the summary
    out = tmp_path / "cv"
    argv = ["cv", "--data", str(data_root), "--format", "synthetic", "--config", "cpu", "--out", str(out),
            "--folds", "3", "--limit-folds", "1", "--no-progress", *tiny_sets()]
    assert run_cli(argv) == 0
    summary = (out / "cv_summary.json").read_text()
    capsys.readouterr()
    assert run_cli(argv + ["--set", "optim.steps=3"]) == 2
    err = capsys.readouterr().err
    assert "fold0: holds a run made with other settings (optim.steps 2 -> 3)" in err and "Traceback" not in err
    assert (out / "cv_summary.json").read_text() == summary
    assert run_cli(argv + ["--set", "runtime.threads=1"]) == 0  # what does not change results may differ


def test_finished_only_tables_the_finished_runs_and_trains_nothing(data_root, tmp_path, monkeypatch, capsys):
    """A campaign spanning days: an interim table from the runs already finished, the rest listed as not run."""
    videos = [f"v{i}" for i in range(12)]
    calls = []

    def fake_run(config, fold, data_root, data_format, folder, **kwargs):
        calls.append(kwargs["name"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text("{}")  # what marks a run finished
        gain = 0.02 if config.model.name == "sscf" else 0.0
        dice = {v: 0.85 + gain + 0.001 * i for i, v in enumerate(videos)}
        return RunOutcome(kwargs["name"], folder, {"dice": float(np.mean(list(dice.values())))}, unit="px",
                          per_video={"dice": dice, "hd_penalised": {v: 3.0 for v in videos}})

    monkeypatch.setattr(engine, "run_one", fake_run)
    config = resolve_config("cpu", TINY)
    out = tmp_path / "a"
    run_ablation(config, data_root, "synthetic", out, variants=["baseline", "sscf"], seeds=[0])
    calls.clear()
    result = run_ablation(config, data_root, "synthetic", out, variants=["baseline", "sscf"], seeds=[0, 1],
                          finished_only=True)
    assert calls == ["baseline seed 0 fold 0", "sscf seed 0 fold 0"]  # seed 1 was neither trained nor scored
    assert not result.failed
    assert [o.name for o in result.runs if o.pending] == ["baseline seed 1 fold 0", "sscf seed 1 fold 0"]
    assert [r["name"] for r in result.summary["runs"] if r["pending"]] == ["baseline seed 1 fold 0", "sscf seed 1 fold 0"]
    assert result.summary["rows"]["sscf"]["seeds_done"] == 1
    win = {c["label"]: c for c in result.summary["comparisons"]}["sscf − baseline"]["dice"]
    assert win["mean"] == pytest.approx(0.02) and win["seeds"] == 1
    table = (out / "ablation_table.md").read_text()
    assert "Not run yet (--finished-only): 2 of 4 runs: baseline seed 1 fold 0, sscf seed 1 fold 0" in table


def test_finished_only_with_nothing_finished_says_so_in_one_line(data_root, tmp_path, capsys):
    code = run_cli(["ablation", "--data", str(data_root), "--format", "synthetic", "--config", "cpu",
                    "--out", str(tmp_path / "a"), "--variants", "baseline", "--seeds", "0", "--finished-only",
                    "--no-progress", *tiny_sets()])
    err = capsys.readouterr().err
    assert code != 0 and "--finished-only: none of the 1 planned runs has finished" in err
    assert "Traceback" not in err and not (tmp_path / "a" / "runs").exists()
