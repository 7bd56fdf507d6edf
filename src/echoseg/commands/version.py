"""`echoseg version`: the versions of echoseg and the libraries it runs on (for bug reports)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("version", help="print echoseg, torch and MONAI versions and the device")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    import torch  # for the device; MONAI's and numpy's versions come from their metadata (importing MONAI takes seconds)

    from echoseg import __version__

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"echoseg {__version__}\ntorch {torch.__version__}\nmonai {installed('monai')}\nnumpy {installed('numpy')}\n"
          f"device {device}")
    return 0
