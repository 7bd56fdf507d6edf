"""`torchrun --nproc_per_node 2 ... predict`: each video processed once, rank 0 merges the summaries."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from echoseg.inference import outputs
from echoseg.models.checkpoint import save_model
from inference_support import TINY_MODEL_NAME, TinyDarkNet, beating_video, register_tiny_model
from test_data_inputs import _write_cv2

TESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = TESTS_DIR.parent / "src"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_sharded_predict(tmp_path):
    register_tiny_model()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(5):
        _write_cv2(inputs / f"v{i}.avi", beating_video(frames=24, size=(32, 32), period=10, phase=2, seed=i)[0])
    (inputs / "v5.avi").write_bytes(b"broken")
    checkpoint = save_model(tmp_path / "model.safetensors", TinyDarkNet(), TINY_MODEL_NAME, {"window": 3, "width": 4},
                            extra={"input_size": [32, 32]})
    # Each rank registers the test model, then runs the real CLI (as `-m echoseg` would).
    entry = tmp_path / "entry.py"
    entry.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS_DIR)!r})
        from inference_support import register_tiny_model
        register_tiny_model()
        from echoseg.cli import main
        main(sys.argv[1:])
    """))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC_DIR), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           str(entry), "predict", str(inputs), "--checkpoint", str(checkpoint), "--out", str(out),
           "--no-progress", "--batch-size", "8", "--device", "cpu"]
    started = time.time()
    # Own process group, so a hang can be ended without orphaning the workers.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"sharded predict hung:\n{stderr[-3000:]}")
    # The rank that met the broken input exits 1 (inputs failed), so torchrun does too.
    assert proc.returncode == 1, stderr[-3000:]
    with open(out / "summary.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    with open(out / "errors.csv", newline="") as f:
        errors = list(csv.DictReader(f))
    assert [r["name"] for r in summary] == [f"v{i}" for i in range(5)], stderr[-2000:]
    assert len(errors) == 1 and errors[0]["input"].endswith("v5.avi")
    # Shards by rank: input i went to rank i % 2; each video was processed exactly once.
    for rank in (0, 1):
        data = json.loads((out / "ranks" / f"rank{rank}.json").read_text())
        names = [r["name"] for r in data["rows"]] + [e["name"] for e in data["errors"]]
        assert sorted(names) == [f"v{i}" for i in range(rank, 6, 2)]
    assert all((out / f"v{i}" / outputs.DONE_MARKER).is_file() for i in range(5))
    print(f"2-process sharded predict took {time.time() - started:.1f} s")
