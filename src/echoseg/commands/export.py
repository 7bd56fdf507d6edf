"""`echoseg export`: ONNX and/or TorchScript files of a checkpoint, checked against PyTorch."""

from __future__ import annotations

import argparse

from echoseg.commands._options import output_path, positive_int

ATOL = 1e-3  # max abs logits difference accepted between the exported model and PyTorch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX (checked with onnxruntime) or TorchScript",
        description="Export a checkpoint at a fixed input size: (B, k, H, W) frames in [0, 1] -> (B, 1, H, W) "
        "logits of the centre frames; ONNX files take any batch size B (batch 1 for models whose graph cannot vary it), TorchScript traces batch 1. Each export "
        "is run on random inputs and compared with PyTorch. (predict --engine onnxruntime exports and caches "
        "its own file: no need to run this first.)",
    )
    p.add_argument("--checkpoint", required=True, help="echoseg weights file (model.safetensors) or a run folder")
    p.add_argument("--onnx", type=output_path, default=None, metavar="FILE", help="write an ONNX model here (opset 17)")
    p.add_argument("--torchscript", type=output_path, default=None, metavar="FILE",
                   help="write a traced TorchScript model here")
    p.add_argument("--overwrite", action="store_true", help="replace --onnx / --torchscript files that exist")
    p.add_argument("--size", type=positive_int, nargs=2, metavar=("H", "W"), default=None,
                   help="input height and width, multiples of 16 (default: the checkpoint's input size, else 112 112)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.commands._options import output_file
    from echoseg.errors import EchosegError

    # Checked before importing torch and the exporters (seconds), so a command with nothing to do says so at once.
    if not args.onnx and not args.torchscript:
        raise EchosegError("nothing to do: give --onnx FILE and/or --torchscript FILE")
    if args.onnx:
        output_file(args.onnx, option="--onnx", overwrite=args.overwrite, example="model.onnx")
    if args.torchscript:
        output_file(args.torchscript, option="--torchscript", overwrite=args.overwrite, example="model.pt")

    from echoseg.inference.export import export_onnx, export_torchscript, onnx_batch_size, require_onnx
    from echoseg.inference.segmenter import check_input_size, load_segmenter

    if args.onnx:
        require_onnx()
    segmenter = load_segmenter(args.checkpoint, device="cpu")
    model, window = segmenter.model, segmenter.window
    size = check_input_size(args.size) if args.size else segmenter.input_size
    failed = False
    for kind, path, export in (("ONNX", args.onnx, export_onnx), ("TorchScript", args.torchscript, export_torchscript)):
        if not path:
            continue
        diff = export(model, path, size)
        ok = diff <= ATOL
        failed |= not ok
        batch = (onnx_batch_size(path) or "B") if kind == "ONNX" else 1
        print(f"{kind}: {path} (input {batch}x{window}x{size[0]}x{size[1]}), max abs logits difference vs PyTorch "
              f"{diff:.2e} {'OK' if ok else f'EXCEEDS {ATOL:g}'}")
    return 1 if failed else 0
