import torch
import torch.nn as nn

from echoseg.training.ema import ModelEMA


def small_net():
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))


def test_ema_averages_parameters_and_buffers():
    student = small_net()
    ema = ModelEMA(student, decay=0.9, warmup=False)
    teacher_before = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
        student[1].running_mean.fill_(2.0)
        student[1].running_var.fill_(3.0)
        student[1].num_batches_tracked.fill_(7)
    assert ema.update(student, step=10) == 0.9
    after = ema.state_dict()
    new = student.state_dict()
    for name in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        expected = 0.9 * teacher_before[name] + 0.1 * new[name]
        assert torch.allclose(after[name], expected, atol=1e-7), name
    assert after["1.running_mean"][0].item() == torch.tensor(0.9 * 0.0 + 0.1 * 2.0).item()
    assert int(after["1.num_batches_tracked"]) == 7  # integer buffers are copied


def test_ema_teacher_is_a_frozen_copy_in_eval_mode():
    student = small_net()
    ema = ModelEMA(student, decay=0.99)
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert not ema.module.training
    assert ema.module is not student and ema.module[0].weight is not student[0].weight


def test_ema_warmup_decay():
    ema = ModelEMA(small_net(), decay=0.99, warmup=True)
    assert ema.decay_at(0) == 0.0  # first update copies the student
    assert ema.decay_at(1) == 0.5
    assert ema.decay_at(9) == 0.9
    assert ema.decay_at(10_000) == 0.99
    assert ModelEMA(small_net(), decay=0.99, warmup=False).decay_at(0) == 0.99
