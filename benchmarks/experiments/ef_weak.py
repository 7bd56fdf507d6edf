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

`--anchor-weight W` adds a shape prior on the real frames: the starting model's mask at each real ED and ES frame,
kept to its largest piece and dilated by `--anchor-margin` pixels, bounds where the LV may be; the student's
probability mass outside that region (as a share of the region's area) is penalised. The border may move
within the band, stray blobs in the atria and walls may not (the failure the EF arm showed without it).

`--train-only decoder,head` trains only those top-level modules (the rest frozen): with about 22 k free
weights instead of 3.4 M the model cannot learn each training video's EF by heart, so what it learns must be
a border rule that other videos share (the first EF arm fitted its 102 videos to about 5 EF points and
carried nothing but a level shift to the held-out half).

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
from scipy import ndimage

from echoseg.data.inputs import read_video
from echoseg.data.resize import resize_mask, resize_video
from echoseg.data.synthetic import iter_dataset
from echoseg.data.windows import frame_window
from echoseg.geometry.masks import clean_mask
from echoseg.inference.segmenter import pretrained_path, recorded_input_size
from echoseg.inference.views import model_view
from echoseg.models.checkpoint import load_model, save_model
from echoseg.training.losses import supervised_loss

AREA_EXPONENT = 1.5  # area -> volume for a shape that scales alike in every direction


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


def allowed_region(model, windows: torch.Tensor, margin: int) -> torch.Tensor:
    """The starting model's mask per window, its largest piece (holes filled) dilated by `margin` px: (N, 1, H, W) float."""
    with torch.no_grad():
        masks = (torch.sigmoid(model(windows).float()) > 0.5).numpy()[:, 0]
    out = np.ones_like(masks, dtype=np.float32)  # an empty mask anchors nothing: no constraint
    for i, mask in enumerate(masks):
        if mask.any():
            out[i] = ndimage.binary_dilation(clean_mask(mask), iterations=margin)
    return torch.from_numpy(out[:, None])


def add_allowed_regions(model, items: list[dict], k: int, margin: int) -> None:
    """Each item's `regions`: per (ED, ES) pair, the allowed region at ED and at ES (2, 1, H, W)."""
    for item in items:
        item["regions"] = [allowed_region(model, _as_input([frame_window(item["frames"], f, k) for f in pair]), margin)
                           for pair in item["pairs"]]


def outside_mass(probs: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Mean over windows of the probability mass outside the allowed region, per unit of the region's area."""
    outside = (probs * (1.0 - regions)).sum(dim=(1, 2, 3))
    return (outside / regions.sum(dim=(1, 2, 3)).clamp(min=1.0)).mean()


def synthetic_items(n_videos: int, seed: int, size) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frames, masks) at the model's input size for `n_videos` realistic-preset videos."""
    out = []
    for video in iter_dataset(n_videos, seed, difficulty="realistic", split_fractions=(1.0, 0.0, 0.0)):
        sample = video.sample
        frames = resize_video(sample.video, size)
        masks = np.stack([resize_mask(sample.masks[t], size) for t in range(len(sample.video))])
        out.append((frames, masks))
    return out


def soft_ef(probs: torch.Tensor) -> torch.Tensor:
    """EF (percent) of each pair from the soft mask areas; `probs` holds the N ED then the N ES frames."""
    area = probs.sum(dim=(1, 2, 3))
    n = len(area) // 2
    ratio = area[n:] / area[:n].clamp(min=1.0)
    return 100.0 * (1.0 - ratio.clamp(min=0.0) ** AREA_EXPONENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train_dir", type=Path, help="EchoNet-layout folder: FileList.csv (EF) + Videos/")
    parser.add_argument("beats_dir", type=Path, help="predict output of the starting model: NAME/beats.csv")
    parser.add_argument("out", type=Path, help="folder for model.safetensors and ef_weak.json")
    parser.add_argument("--seed", type=int, default=0, help="draws of windows, beats and synthetic data")
    parser.add_argument("--ef-weight", type=float, default=1.0, help="weight of the EF loss (0: the control)")
    parser.add_argument("--anchor-weight", type=float, default=0.0,
                        help="weight of the shape prior on real frames (0: none, as the first EF arm)")
    parser.add_argument("--anchor-margin", type=int, default=4,
                        help="pixels (at the model's input size) the border may move beyond the starting mask")
    parser.add_argument("--train-only", default="",
                        help="comma-separated top-level modules to train (e.g. decoder,head); default: all")
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    parser.add_argument("--synthetic-videos", type=int, default=40, help="realistic-preset videos drawn")
    parser.add_argument("--synthetic-batch", type=int, default=8, help="labelled synthetic windows per step")
    parser.add_argument("--real-batch", type=int, default=4, help="real (ED, ES) pairs per step")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    if args.anchor_weight > 0 and args.ef_weight <= 0:
        parser.error("--anchor-weight bounds the real frames of the EF loss: use it with --ef-weight > 0")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    start = pretrained_path()
    model, info = load_model(start)
    size = recorded_input_size(info)
    k = int(model.window)
    real = real_items(args.train_dir, args.beats_dir, size)
    synthetic = synthetic_items(args.synthetic_videos, 7000 + args.seed, size)
    if args.anchor_weight > 0:
        model.eval()
        add_allowed_regions(model, real, k, args.anchor_margin)
    print(f"{len(real)} real videos, {len(synthetic)} synthetic; input {size}, window {k}", flush=True)

    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()  # the synthetic statistics, as trained
    trained = list(model.parameters())
    if args.train_only:
        children, names = dict(model.named_children()), args.train_only.split(",")
        unknown = [name for name in names if name not in children]
        if unknown:
            parser.error(f"--train-only: no module {unknown}; the model has {sorted(children)}")
        model.requires_grad_(False)
        for name in names:
            children[name].requires_grad_(True)
        trained = [p for p in model.parameters() if p.requires_grad]
    print(f"training {sum(p.numel() for p in trained)} weights", flush=True)
    optimizer = torch.optim.Adam(trained, lr=args.lr)
    log, began = [], time.time()
    for step in range(args.steps):
        windows, targets = [], []
        for _ in range(args.synthetic_batch):
            frames, masks = synthetic[int(rng.integers(len(synthetic)))]
            t = int(rng.integers(len(frames)))
            windows.append(frame_window(frames, t, k))
            targets.append(masks[t])
        x = _as_input(windows)
        y = torch.from_numpy(np.stack(targets)[:, None].astype(np.float32))
        loss = supervised_loss(model(x), y)["loss"]
        ef_loss, anchor_loss = torch.zeros(()), torch.zeros(())
        if args.ef_weight > 0:
            ed, es, truth, ed_regions, es_regions = [], [], [], [], []
            for index in rng.integers(len(real), size=args.real_batch):
                item = real[int(index)]
                pair = int(rng.integers(len(item["pairs"])))
                ed_frame, es_frame = item["pairs"][pair]
                ed.append(frame_window(item["frames"], ed_frame, k))
                es.append(frame_window(item["frames"], es_frame, k))
                truth.append(item["ef"])
                if args.anchor_weight > 0:
                    ed_regions.append(item["regions"][pair][0])
                    es_regions.append(item["regions"][pair][1])
            probs = torch.sigmoid(model(_as_input(ed + es)).float())
            ef_loss = F.smooth_l1_loss(soft_ef(probs) / 10.0, torch.tensor(truth, dtype=torch.float32) / 10.0)
            loss = loss + args.ef_weight * ef_loss
            if args.anchor_weight > 0:
                anchor_loss = outside_mass(probs, torch.stack(ed_regions + es_regions))
                loss = loss + args.anchor_weight * anchor_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.append((float(loss.detach()), float(ef_loss.detach()), float(anchor_loss.detach())))
        if (step + 1) % 50 == 0:
            recent = np.array(log[-50:])
            print(f"step {step + 1}/{args.steps}: loss {recent[:, 0].mean():.4f} ef loss {recent[:, 1].mean():.4f} "
                  f"outside mass {recent[:, 2].mean():.4f} "
                  f"({time.time() - began:.0f} s)", flush=True)

    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    extra = {**info.extra, "note": "experiment ef_weak: fine-tuned with reported EF; for research only",
             "ef_weak": {"seed": args.seed, "ef_weight": args.ef_weight, "anchor_weight": args.anchor_weight,
                         "anchor_margin": args.anchor_margin, "train_only": args.train_only, "steps": args.steps, "lr": args.lr,
                         "train_videos": len(real)}}
    save_model(args.out / "model.safetensors", model, info.model, info.model_cfg, extra)
    (args.out / "ef_weak.json").write_text(json.dumps({**extra["ef_weak"], "loss_log": log}) + "\n")
    print(f"wrote {args.out / 'model.safetensors'}")


if __name__ == "__main__":
    main()
