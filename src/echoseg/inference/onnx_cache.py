"""ONNX files for the onnxruntime engine: exported once per weights and settings, kept beside the weights.

A file is found again by its key: the weights file's sha256, the input size, torch's version, this
module's export version and the precision (for int8 also the calibration videos' identity). Files
live in `.echoseg-onnx/` beside the weights file, or, where that folder cannot be written (the
built-in model inside an installed package), in $ECHOSEG_CACHE or ~/.cache/echoseg/onnx. Each file
has a JSON record beside it (what made it; for int8 its measured agreement with fp32). When weights
are rewritten in place (a new sha256 under the same name), the files made from the old ones are
removed as the new ones are written.

int8: ONNX Runtime static quantization (QOperator format: integer convolutions; per-channel int8
weights, uint8 activations, min/max calibration) on windows of calibration videos, then checked
against fp32 on other videos: the mask Dice between the two must reach `INT8_MIN_DICE`, else the
int8 file is refused as not equivalent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from echoseg.data.windows import window_indices
from echoseg.errors import EchosegError
from echoseg.geometry.masks import MaskRule, frame_dice
from echoseg.io import atomic_write_bytes, atomic_write_text
from echoseg.models.checkpoint import WeightsInfo

log = logging.getLogger(__name__)

# Bump when the export changes what the file computes or how (2: ASSC's pooling on (B, H, W, C) slices).
EXPORT_VERSION = 2
CACHE_FOLDER = ".echoseg-onnx"
EXPORT_ATOL = 1e-3  # max abs logits difference accepted between the exported file and PyTorch
INT8_MIN_DICE = 0.99  # below this mean per-frame Dice against fp32, int8 is not offered as equivalent
CALIBRATION_WINDOWS = 128  # windows the int8 calibration collects activation ranges on (memory grows with it)
SYNTHETIC_CALIBRATION_VIDEOS = 4


@dataclass
class Calibration:
    """Videos at the model's input size (uint8 (T, h, w) each) and a name that identifies them."""

    name: str
    videos: list[np.ndarray]


def cache_folder(weights_path: Path | None) -> Path:
    """`.echoseg-onnx` beside the weights when it can be written there, else the user's cache folder."""
    if weights_path is not None:
        folder = Path(weights_path).parent / CACHE_FOLDER
        if _writable(folder):
            return folder
    folder = Path(os.environ.get("ECHOSEG_CACHE") or Path.home() / ".cache" / "echoseg") / "onnx"
    if not _writable(folder):
        raise EchosegError(f"{folder}: cannot write the ONNX cache there; set ECHOSEG_CACHE to a writable folder")
    return folder


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def weights_identity(model: nn.Module, weights: WeightsInfo | None) -> tuple[str, str, Path | None]:
    """(file stem, sha256, weights path) of the weights; a model built in memory is hashed from its tensors."""
    if weights is not None and weights.sha256:
        return Path(weights.path).stem, weights.sha256, Path(weights.path)
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "in-memory-model", digest.hexdigest(), None


def _key(sha: str, input_size: tuple[int, int], precision: str, calibration: str = "") -> str:
    text = json.dumps([sha, list(input_size), precision, calibration, torch.__version__, EXPORT_VERSION])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def fp32_onnx(model: nn.Module, weights: WeightsInfo | None, input_size: tuple[int, int]) -> Path:
    """The cached float32 ONNX file of `model` at `input_size`, exported and checked on first use."""
    from echoseg.inference.export import export_onnx

    stem, sha, weights_path = weights_identity(model, weights)
    folder = cache_folder(weights_path)
    path = folder / f"{stem}.{sha[:12]}.{_key(sha, input_size, 'fp32')}.fp32.onnx"
    if path.is_file():
        return path
    log.info("exporting the model to ONNX (once per weights file): %s", path)
    diff = export_onnx(copy_for_export(model), path, input_size)
    if diff > EXPORT_ATOL:
        path.unlink(missing_ok=True)
        raise EchosegError(f"{path}: the ONNX export's logits differ from PyTorch's by {diff:.2e} "
                           f"(more than {EXPORT_ATOL:g}); use --engine torch")
    _write_record(path, {"weights_sha256": sha, "input_size": list(input_size), "precision": "fp32",
                         "torch": torch.__version__, "max_abs_logits_diff_vs_torch": diff})
    _remove_stale(folder, stem, sha)
    return path


def copy_for_export(model: nn.Module) -> nn.Module:
    """A CPU float32 copy: exporting moves and traces the model, which must not touch the one in use."""
    import copy

    return copy.deepcopy(model).float().cpu().eval()


def int8_onnx(model: nn.Module, weights: WeightsInfo | None, input_size: tuple[int, int], calibration: Calibration,
              mask_rule: MaskRule, *, threads: int) -> tuple[Path, dict]:
    """The cached int8 ONNX file and its record (Dice against fp32 on the check videos). EchosegError when
    that Dice is below INT8_MIN_DICE: the int8 model is then not equivalent and is not used."""
    fp32_path = fp32_onnx(model, weights, input_size)
    stem, sha, weights_path = weights_identity(model, weights)
    folder = fp32_path.parent
    path = folder / f"{stem}.{sha[:12]}.{_key(sha, input_size, 'int8', calibration.name)}.int8.onnx"
    record_path = path.with_suffix(".json")
    if path.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
    else:
        if len(calibration.videos) < 2:
            raise EchosegError("int8 calibration needs at least 2 videos (half calibrate, half check the result)")
        calibrate, check = calibration.videos[0::2], calibration.videos[1::2]
        log.info("quantizing to int8 on %d calibration video(s) (once per weights and calibration set)", len(calibrate))
        _quantize(fp32_path, path, calibrate, window=model.window)
        agreement = mask_agreement(fp32_path, path, check, mask_rule, window=model.window, threads=threads)
        record = {"weights_sha256": sha, "input_size": list(input_size), "precision": "int8",
                  "calibration": calibration.name, "calibration_videos": len(calibrate),
                  "check_videos": len(check), **agreement, "torch": torch.__version__,
                  "quantization": "onnxruntime static, QOperator, per-channel int8 weights, uint8 activations, minmax"}
        _write_record(path, record)
    if record["dice_vs_fp32_mean"] < INT8_MIN_DICE:
        raise EchosegError(f"int8 masks agree with fp32 at Dice {record['dice_vs_fp32_mean']:.4f} (mean per frame over "
                           f"{record['check_frames']} frames of {record['check_videos']} check video(s), calibration "
                           f"{record['calibration']}), below {INT8_MIN_DICE}: int8 is not equivalent here; drop --int8")
    return path, record


def _quantize(fp32_path: Path, out_path: Path, videos: list[np.ndarray], window: int) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = list(_window_batches(videos, window, CALIBRATION_WINDOWS))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"frames": batch}

    # The quantizer logs a warning with a whole tensor proto for each of dozens of shape values it
    # cannot infer statically (the ASSC's batch-dependent shapes); nothing the user can act on.
    with tempfile.TemporaryDirectory() as tmp, _quiet_logging():
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        quantized = Path(tmp) / "int8.onnx"
        quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QOperator,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        atomic_write_bytes(out_path, quantized.read_bytes())  # the temporary folder may be on another disk


@contextlib.contextmanager
def _quiet_logging():
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _window_batches(videos: list[np.ndarray], window: int, limit: int, batch: int = 16):
    """float32 (B, k, h, w) batches of windows spread evenly over the videos' frames, `limit` windows in all."""
    per_video = max(1, limit // max(1, len(videos)))
    for video in videos:
        n = len(video)
        centres = np.unique(np.linspace(0, n - 1, min(n, per_video)).round().astype(int))
        for start in range(0, len(centres), batch):
            idx = window_indices(n, window, centres[start:start + batch])
            yield np.divide(video[idx], np.float32(255.0), dtype=np.float32)


def mask_agreement(path_a: Path, path_b: Path, videos: list[np.ndarray], mask_rule: MaskRule, *, window: int,
                   threads: int) -> dict:
    """Per-frame Dice between the masks of two ONNX files on `videos` (frames empty in both count as 1)."""
    from echoseg.inference.engines import OnnxRuntimeEngine

    engines = [OnnxRuntimeEngine(p, window, batch_size=16, threads=threads) for p in (path_a, path_b)]
    scores = []
    for video in videos:
        a, b = ([mask_rule(p) for p in engine.video_probs(video)] for engine in engines)
        scores.append(frame_dice(np.stack(a), np.stack(b)))
    dice = np.concatenate(scores)
    return {"dice_vs_fp32_mean": round(float(np.mean(dice)), 5), "dice_vs_fp32_min_frame": round(float(np.min(dice)), 5),
            "check_frames": len(dice)}


def _write_record(onnx_path: Path, record: dict) -> None:
    atomic_write_text(onnx_path.with_suffix(".json"), json.dumps(record, indent=2) + "\n")


def _remove_stale(folder: Path, stem: str, sha: str) -> None:
    """Files made from earlier contents of the same weights file (same stem, another sha256)."""
    for old in folder.glob(f"{stem}.*"):
        parts = old.name[len(stem) + 1:].split(".")
        if parts and len(parts[0]) == 12 and parts[0] != sha[:12] and old.suffix in (".onnx", ".json"):
            old.unlink(missing_ok=True)


def synthetic_calibration(input_size: tuple[int, int], n_videos: int = SYNTHETIC_CALIBRATION_VIDEOS) -> Calibration:
    """Realistic-preset synthetic videos (48 frames each) resized to the input size."""
    from echoseg.data.resize import resize_video
    from echoseg.data.synthetic.generator import generate_video

    videos = [resize_video(generate_video(seed, frames=48, difficulty="realistic").sample.video, input_size)
              for seed in range(n_videos)]
    return Calibration(f"synthetic-realistic-{n_videos}x48", videos)


def file_calibration(paths: list[str | Path], input_size: tuple[int, int], *, crop: bool = True,
                     framing: str = "depth", max_videos: int = 8) -> Calibration:
    """The user's videos (files, folders or FileLists, as predict reads them) as the model sees them (fan
    crop): at most `max_videos`, spread evenly over the list, so that naming an archive stays quick."""
    from echoseg.data.inputs import discover_inputs, read_video
    from echoseg.inference.views import model_view

    items = discover_inputs([Path(p) for p in paths])
    if len(items) > max_videos:
        items = [items[int(i)] for i in np.linspace(0, len(items) - 1, max_videos).round()]
    videos, identity = [], hashlib.sha256()
    for item in items:
        try:
            video = read_video(item.path)
            view = model_view(video.frames, input_size, crop=crop, framing=framing, region=video.region,
                              path=str(item.path))
        except EchosegError as exc:  # DataError included: a bad file is left out, as predict does
            log.warning("int8 calibration: skipping %s (%s)", item.path, exc)
            continue
        stat = item.path.stat()
        identity.update(f"{item.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{crop}|{framing}".encode())
        videos.append(view.frames)
    if len(videos) < 2:
        raise EchosegError(f"int8 calibration on {', '.join(map(str, paths))}: {len(videos)} readable video(s), it needs "
                           "at least 2 (half calibrate, half check); name more with --int8-calibration")
    return Calibration(f"files-{len(videos)}-{identity.hexdigest()[:12]}", videos)
