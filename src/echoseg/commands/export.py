"""`echoseg export`: ONNX and/or TorchScript files of a checkpoint, checked against PyTorch."""

from __future__ import annotations

import argparse

ATOL = 1e-3  # max abs logits difference accepted between the exported model and PyTorch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX (checked with onnxruntime) or TorchScript",
        description="Export a checkpoint for batch 1 at a fixed input size: (1, k, H, W) frames in [0, 1] -> "
        "(1, 1, H, W) logits of the centre frame. Each export is run on a random input and compared with PyTorch.",
    )
    p.add_argument("--checkpoint", required=True, help="echoseg weights file (model.safetensors) or a run folder")
    p.add_argument("--onnx", default=None, metavar="FILE", help="write an ONNX model here (opset 17)")
    p.add_argument("--torchscript", default=None, metavar="FILE", help="write a traced TorchScript model here")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input height and width, multiples of 16 (default: the checkpoint's input size, else 112 112)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.errors import EchosegError
    from echoseg.inference.export import export_onnx, export_torchscript
    from echoseg.inference.segmenter import check_input_size, load_segmenter

    if not args.onnx and not args.torchscript:
        raise EchosegError("nothing to do: give --onnx FILE and/or --torchscript FILE")
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
        print(f"{kind}: {path} (input 1x{window}x{size[0]}x{size[1]}), max abs logits difference vs PyTorch "
              f"{diff:.2e} {'OK' if ok else f'EXCEEDS {ATOL:g}'}")
    return 1 if failed else 0
