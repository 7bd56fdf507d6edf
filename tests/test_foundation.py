"""The shared pieces: config overrides, atomic writes, checkpoint refusal, schema validation, CLI."""

import os
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from echoseg.cli import build_parser
from echoseg.config import ConfigError, dump_yaml, load_config
from echoseg.data.schema import CaseRecord, EchoSample
from echoseg.errors import CheckpointError
from echoseg.io import atomic_path, atomic_write_text
from echoseg.models.checkpoint import read_metadata


@dataclass
class _Inner:
    lr: float = 1e-4
    dilations: tuple[int, ...] = (1,)


@dataclass
class _Outer:
    name: str = "sscf"
    optim: _Inner = field(default_factory=_Inner)


def test_config_yaml_and_overrides(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("name: unet\noptim:\n  lr: 0.01\n")
    cfg = load_config(_Outer, preset, ["optim.dilations=[1, 2]", "optim.lr=3e-4"])
    assert cfg.name == "unet" and cfg.optim.lr == pytest.approx(3e-4) and cfg.optim.dilations == (1, 2)
    assert "dilations:\n  - 1\n  - 2" in dump_yaml(cfg)


def test_config_unknown_key_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid keys"):
        load_config(_Outer, None, ["optim.learning_rate=1"])


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    atomic_write_text(target, "done")
    assert target.read_text() == "done"
    # Outputs get the usual permissions for new files (not mkstemp's owner-only 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_pickle_checkpoint_is_refused_without_unpickling(tmp_path):
    evil = tmp_path / "model.safetensors"
    torch.save({"x": torch.zeros(1)}, evil)  # a pickle, not safetensors
    with pytest.raises(CheckpointError, match="not a safetensors"):
        read_metadata(evil)


def test_schema_rejects_bad_masks():
    video = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="mask for frame 9"):
        EchoSample(video=video, masks={9: np.zeros((8, 8), bool)}, case_id="c", patient_id="p")
    with pytest.raises(ValueError, match="must be bool"):
        EchoSample(video=video, masks={0: np.zeros((8, 8), np.uint8)}, case_id="c", patient_id="p")


def test_sample_from_record_copies_listing_fields_and_takes_overrides():
    record = CaseRecord("c1", "p1", split="val", view="4CH", fps=25.0, n_frames=99, ef=60.0, edv=100.0, esv=40.0)
    video = np.zeros((3, 8, 8), np.uint8)
    sample = EchoSample.from_record(record, video=video, masks={}, ed=0, es=2, spacing_mm=(0.5, 0.3), fps=30.0)
    assert (sample.case_id, sample.patient_id, sample.split, sample.view) == ("c1", "p1", "val", "4CH")
    assert (sample.ef, sample.edv, sample.esv) == (60.0, 100.0, 40.0)
    assert (sample.ed, sample.es, sample.spacing_mm, sample.fps, sample.n_frames) == (0, 2, (0.5, 0.3), 30.0, 3)


def test_cli_lists_commands():
    help_text = build_parser().format_help()
    assert "version" in help_text
