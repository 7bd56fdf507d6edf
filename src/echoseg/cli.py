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
from echoseg.errors import EchosegError, Interrupted
from echoseg.threads import configure_openmp

INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the full usage of a command with 20 options would bury the problem."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    import echoseg.commands as commands

    parser = _Parser(
        prog="echoseg",
        description="Semi-supervised LV segmentation in echocardiography videos (SSCF). "
        "Run `echoseg COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"echoseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # helpers shared by the commands
            continue
        module = importlib.import_module(f"echoseg.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    configure_openmp()  # before any command imports torch
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as typed, for messages that say how to resume.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(2)
    try:
        code = args.func(args)
    except Interrupted as exc:
        print(f"echoseg {args.command}: interrupted: {exc}", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except KeyboardInterrupt:
        print(f"echoseg {args.command}: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except EchosegError as exc:
        print(f"echoseg {args.command}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # the disk, not echoseg: full, read-only, permissions, a vanished file
        if args.verbose:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"echoseg {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
