"""`echoseg version`: the versions of echoseg and the libraries it runs on (for bug reports)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("version", help="print echoseg, torch and MONAI versions and the device")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import monai
    import numpy
    import torch

    from echoseg import __version__

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"echoseg {__version__}\ntorch {torch.__version__}\nmonai {monai.__version__}\nnumpy {numpy.__version__}\ndevice {device}")
    return 0
