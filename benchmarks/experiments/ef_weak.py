"""Experiment: can a reported EF per video teach the model the real ES border? (issue 22)

    python benchmarks/experiments/ef_weak.py TRAIN_DIR BEATS_DIR OUT --seed 0 [--ef-weight 1] [--steps 600]

Without tracings the built-in model's real-video EF error is each video's ES mask (benchmarks/RESULTS.md,
"It is the ES masks"), and nothing label-free has found the right border. Many users do hold one number
per video: the EF of the clinical report (EchoNet-Dynamic's FileList.csv). This fine-tunes the built-in
model on

- synthetic labelled windows of the realistic preset (the recipe's data, a fresh seed): the shape anchor;
- real untraced videos of TRAIN_DIR (EchoNet layout: FileList.csv + Videos/), each with its FileList EF:
  at a beat's ED and ES frames (the starting model's own, from BEATS_DIR/NAME/beats.csv, written by
  `echoseg predict` / bench_real), the soft mask areas give EF = 1 - (A_es / A_ed) ** 1.5 (on the built-in
  model's real masks this area proxy agrees with predict's method of disks with bias 0.0, r 0.82), and a
  smooth L1 loss pulls it to FileList's EF.

BatchNorm stays in eval mode (the synthetic statistics: benchmarks/RESULTS.md, "adapt against a known
truth"). `--ef-weight 0` is the control: the same steps on the synthetic windows alone. Writes
OUT/model.safetensors, which `benchmarks.bench_real --checkpoint` scores on a held-out half whose EFs it
never saw. Real frames are only read, never written. Not a shipped command: it answers whether the
reported EF carries enough signal to be worth one.
"""
import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from echoseg.data.inputs import read_video
from echoseg.data.resize import resize_mask, resize_video
from echoseg.data.synthetic import iter_dataset
from echoseg.inference.segmenter import pretrained_path, recorded_input_size
from echoseg.inference.views import model_view
from echoseg.models.checkpoint import load_model, save_model
from echoseg.training.losses import supervised_loss

AREA_EXPONENT = 1.5  # area -> volume for a shape that scales alike in every direction


def _window(frames: np.ndarray, centre: int, k: int) -> np.ndarray:
    index = np.clip(np.arange(centre - k // 2, centre + k // 2 + 1), 0, len(frames) - 1)
    return frames[index]


def _as_input(windows: list[np.ndarray]) -> torch.Tensor:
    """uint8 windows -> the model's float input in [0, 1]."""
    return torch.from_numpy(np.stack(windows).astype(np.float32) / 255.0)


def real_items(train_dir: Path, beats_dir: Path, size) -> list[dict]:
    """Each readable video of TRAIN_DIR with FileList EF and the starting model's (ED, ES) frame pairs."""
    items = []
    for row in csv.DictReader(open(train_dir / "FileList.csv")):
        name = Path(row["FileName"]).stem
        beats_file = beats_dir / name / "beats.csv"
        if not beats_file.is_file():
            continue
        pairs = [(int(b["ed_frame"]), int(b["es_frame"])) for b in csv.DictReader(open(beats_file))
                 if b["ed_frame"] != b["es_frame"]]
        if not pairs:
            continue
        video = read_video(train_dir / "Videos" / f"{name}.avi")
        frames = model_view(video.frames, size, region=video.region).frames
        items.append({"name": name, "frames": frames, "pairs": pairs, "ef": float(row["EF"])})
    return items


def synthetic_items(n_videos: int, seed: int, size) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frames, masks) at the model's input size for `n_videos` realistic-preset videos."""
    out = []
    for video in iter_dataset(n_videos, seed, difficulty="realistic", split_fractions=(1.0, 0.0, 0.0)):
        sample = video.sample
        frames = resize_video(sample.video, size)
        masks = np.stack([resize_mask(sample.masks[t], size) for t in range(len(sample.video))])
        out.append((frames, masks))
    return out


def soft_ef(model, ed_windows: torch.Tensor, es_windows: torch.Tensor) -> torch.Tensor:
    """EF (percent) of each pair from the soft mask areas."""
    probs = torch.sigmoid(model(torch.cat([ed_windows, es_windows])).float())
    area = probs.sum(dim=(1, 2, 3))
    n = len(ed_windows)
    ratio = area[n:] / area[:n].clamp(min=1.0)
    return 100.0 * (1.0 - ratio.clamp(min=0.0) ** AREA_EXPONENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train_dir", type=Path, help="EchoNet-layout folder: FileList.csv (EF) + Videos/")
    parser.add_argument("beats_dir", type=Path, help="predict output of the starting model: NAME/beats.csv")
    parser.add_argument("out", type=Path, help="folder for model.safetensors and ef_weak.json")
    parser.add_argument("--seed", type=int, default=0, help="draws of windows, beats and synthetic data")
    parser.add_argument("--ef-weight", type=float, default=1.0, help="weight of the EF loss (0: the control)")
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    parser.add_argument("--synthetic-videos", type=int, default=40, help="realistic-preset videos drawn")
    parser.add_argument("--synthetic-batch", type=int, default=8, help="labelled synthetic windows per step")
    parser.add_argument("--real-batch", type=int, default=4, help="real (ED, ES) pairs per step")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    start = pretrained_path()
    model, info = load_model(start)
    size = recorded_input_size(info)
    k = int(model.window)
    real = real_items(args.train_dir, args.beats_dir, size)
    synthetic = synthetic_items(args.synthetic_videos, 7000 + args.seed, size)
    print(f"{len(real)} real videos, {len(synthetic)} synthetic; input {size}, window {k}", flush=True)

    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()  # the synthetic statistics, as trained
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    log, began = [], time.time()
    for step in range(args.steps):
        windows, targets = [], []
        for _ in range(args.synthetic_batch):
            frames, masks = synthetic[int(rng.integers(len(synthetic)))]
            t = int(rng.integers(len(frames)))
            windows.append(_window(frames, t, k))
            targets.append(masks[t])
        x = _as_input(windows)
        y = torch.from_numpy(np.stack(targets)[:, None].astype(np.float32))
        loss = supervised_loss(model(x), y)["loss"]
        ef_loss = torch.zeros(())
        if args.ef_weight > 0:
            ed, es, truth = [], [], []
            for index in rng.integers(len(real), size=args.real_batch):
                item = real[int(index)]
                ed_frame, es_frame = item["pairs"][int(rng.integers(len(item["pairs"])))]
                ed.append(_window(item["frames"], ed_frame, k))
                es.append(_window(item["frames"], es_frame, k))
                truth.append(item["ef"])
            predicted = soft_ef(model, _as_input(ed), _as_input(es))
            ef_loss = F.smooth_l1_loss(predicted / 10.0, torch.tensor(truth, dtype=torch.float32) / 10.0)
            loss = loss + args.ef_weight * ef_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.append((float(loss.detach()), float(ef_loss.detach())))
        if (step + 1) % 50 == 0:
            recent = np.array(log[-50:])
            print(f"step {step + 1}/{args.steps}: loss {recent[:, 0].mean():.4f} ef loss {recent[:, 1].mean():.4f} "
                  f"({time.time() - began:.0f} s)", flush=True)

    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    extra = {**info.extra, "note": "experiment ef_weak: fine-tuned with reported EF; for research only",
             "ef_weak": {"seed": args.seed, "ef_weight": args.ef_weight, "steps": args.steps, "lr": args.lr,
                         "train_videos": len(real)}}
    save_model(args.out / "model.safetensors", model, info.model, info.model_cfg, extra)
    (args.out / "ef_weak.json").write_text(json.dumps({**extra["ef_weak"], "loss_log": log}) + "\n")
    print(f"wrote {args.out / 'model.safetensors'}")


if __name__ == "__main__":
    main()
