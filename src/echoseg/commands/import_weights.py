"""`echoseg import-weights`: published weights of other projects as echoseg weights files."""

from __future__ import annotations

import argparse

from echoseg.commands._options import output_path, positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-weights", help="turn published weights (EchoNet-Dynamic's segmentation model) into an echoseg weights file",
        description="Read a published checkpoint safely (plain tensors only, nothing unpickled), check every key and "
        "shape, and write a self-describing echoseg weights file that predict, evaluate, export and train "
        "(model.init) accept. Sources: echonet-dynamic: EchoNet-Dynamic's DeepLabV3-ResNet-50 "
        "(deeplabv3_resnet50_random.pt from the echonet/dynamic GitHub releases; its licence applies).")
    parser.add_argument("source", choices=["echonet-dynamic"], help="whose checkpoint FILE is")
    parser.add_argument("file", metavar="FILE", help="the downloaded checkpoint (e.g. deeplabv3_resnet50_random.pt)")
    parser.add_argument("--out", type=output_path, required=True,
                        help="the echoseg weights file to write (e.g. echonet.safetensors)")
    parser.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"), default=None,
                        help="per-channel pixel mean in 0-255 that the network was trained with (default: measured on "
                        "real EchoNet-Dynamic video as EchoNet computes it; docs/echonet_weights.md)")
    parser.add_argument("--std", type=positive_float, nargs=3, metavar=("R", "G", "B"), default=None,
                        help="per-channel pixel standard deviation in 0-255 (default: as --mean)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from echoseg.commands._options import output_file
    from echoseg.models.baselines.deeplabv3 import ECHONET_MEAN, ECHONET_STD
    from echoseg.models.echonet_import import import_echonet

    out = output_file(args.out, overwrite=args.overwrite, example="echonet.safetensors")
    written = import_echonet(args.file, out, mean=args.mean or ECHONET_MEAN, std=args.std or ECHONET_STD)
    print(f"wrote {written}: echonet_deeplabv3, input 112x112, mask = logit > 0; use it with "
          f"`echoseg predict VIDEOS --checkpoint {written}`")
    return 0
