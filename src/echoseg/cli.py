"""The `echoseg` console script: a thin layer of subcommands over the Python API.

Each module in `echoseg.commands` adds its own subcommand through `register(subparsers)` and sets
`func(args) -> int | None` as the handler, so adding a command never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from echoseg import __version__
from echoseg.errors import EchosegError


def build_parser() -> argparse.ArgumentParser:
    import echoseg.commands as commands

    parser = argparse.ArgumentParser(
        prog="echoseg",
        description="Semi-supervised LV segmentation in echocardiography videos (SSCF). "
        "Run `echoseg COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"echoseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"echoseg.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(2)
    try:
        code = args.func(args)
    except EchosegError as exc:
        print(f"echoseg {args.command}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
