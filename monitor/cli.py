"""The `ecgmon` command line: one subcommand per module in monitor.commands.

Each command module exposes `register(subparsers)`, which adds its parser and sets
`func` to a callable taking the parsed arguments and returning an exit code. Errors
of type EcgmonError become one clear line on stderr and exit code 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from monitor import NON_DIAGNOSTIC_NOTICE, __version__
from monitor.errors import EcgmonError

COMMAND_MODULES: tuple[str, ...] = (
    "monitor.commands.analyze",
    "monitor.commands.daemon",
    "monitor.commands.tui",
    "monitor.commands.demo",
    "monitor.commands.config",
    "monitor.commands.review",
    "monitor.commands.keys",
    "monitor.commands.log",
    "monitor.commands.export",
    "monitor.commands.scan",
    "monitor.commands.record",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="ecgmon",
        description="On-device ECG monitor. " + NON_DIAGNOSTIC_NOTICE,
    )
    parser.add_argument("--version", action="version", version=f"ecgmon {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except EcgmonError as exc:
        print(f"ecgmon {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ecgmon {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
