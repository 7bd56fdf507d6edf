"""DDP on CPU with gloo: 2 processes x batch 2 must train like 1 process x batch 4.

BatchNorm would make the two differ on purpose (each rank normalises with its own half-batch
statistics), so this test uses the tiny network without BatchNorm; the data pipeline gives both
set-ups the same windows and the same augmentations (slots of the global batch), so the only
difference left is the order of floating-point sums in the gradient all-reduce.
"""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from _training_data import TinyNet, ellipse_dataset, tiny_overrides
from echoseg.training import resolve_config, train

STEPS = 4


def config(batch, student_batchnorm="joint"):
    return resolve_config(None, tiny_overrides(STEPS) + [f"data.batch_labeled={batch}", f"data.batch_unlabeled={batch}",
                                                         "runtime.val_at_start=false",
                                                         f"mean_teacher.student_batchnorm={student_batchnorm}"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank, world, port, out, student_batchnorm="joint"):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.manual_seed(0)
    model = TinyNet(batchnorm=False)
    train(config(2, student_batchnorm), out_dir=f"{out}/run", samples=ellipse_dataset(), model=model)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/rank{rank}.safetensors")


# separate: the student's two passes per step (labelled, then unlabelled windows) under DDP; both
# passes' gradients must reach the all-reduce (the consistency term is on from step 1 of 4).
@pytest.mark.parametrize("student_batchnorm", ["joint", pytest.param("separate", marks=pytest.mark.slow)])
def test_ddp_two_processes_match_one_process_with_the_global_batch(tmp_path, student_batchnorm):
    mp.spawn(ddp_worker, args=(2, free_port(), str(tmp_path), student_batchnorm), nprocs=2, join=True)
    rank0, rank1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key  # identical across ranks
    torch.manual_seed(0)
    single = TinyNet(batchnorm=False)
    train(config(4, student_batchnorm), out_dir=tmp_path / "single", samples=ellipse_dataset(), model=single)
    reference = single.state_dict()
    moved = 0.0
    for key in rank0:
        assert torch.allclose(rank0[key], reference[key], atol=1e-5, rtol=1e-4), key
        moved = max(moved, (reference[key] - TinyNet(batchnorm=False).state_dict()[key]).abs().max().item())
    assert moved > 1e-3  # the weights did train
    # The EMA teacher written by rank 0 equals the single process's teacher too.
    ddp_teacher = load_file(str(tmp_path / "run/checkpoints/last/teacher.safetensors"))
    single_teacher = load_file(str(tmp_path / "single/checkpoints/last/teacher.safetensors"))
    for key in ddp_teacher:
        assert torch.allclose(ddp_teacher[key], single_teacher[key], atol=1e-5, rtol=1e-4), key


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_through_the_cli(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from echoseg.data.synthetic import generate_dataset, write_synthetic

    write_synthetic(tmp_path / "data", generate_dataset(5, seed=3, frames=16, size=32, difficulty="easy"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "echoseg", "train", "--data", str(tmp_path / "data"), "--format", "synthetic", "--config", "cpu",
           "--out", str(tmp_path / "run"), "--no-progress", "--set", "model.name=unet", "--set", "model.window=1",
           "--set", "model.settings.width=0.125", "--set", "data.input_size=[32,32]", "--set", "optim.steps=4",
           "--set", "data.num_workers=0", "--set", "runtime.val_interval=2"]
    subprocess.run(cmd, env=env, check=True, timeout=300)
    state = torch.load(tmp_path / "run/checkpoints/last/train_state.pt", weights_only=True)
    assert state["step"] == 4 and state["world_size"] == 2
    assert (tmp_path / "run/checkpoints/best/model.safetensors").is_file()
