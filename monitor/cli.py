"""The `ecgmon` command line: one subcommand per module in monitor.commands.

Each command module exposes `register(subparsers)`, which adds its parser and sets
`func` to a callable taking the parsed arguments and returning an exit code. Only the
chosen command's module is imported (see `COMMANDS`), so start-up costs what that
command needs. Errors
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

COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": (
        "monitor.commands.analyze",
        "detect and classify the beats of a recorded ECG (WFDB record or CSV)",
    ),
    "daemon": (
        "monitor.commands.daemon",
        "run the monitor: strap or replay -> beats, rhythm, log; status on a local socket",
    ),
    "tui": (
        "monitor.commands.tui",
        "live terminal view of the running daemon (ECG, heart rate, rhythm, alerts)",
    ),
    "demo": (
        "monitor.commands.demo",
        "run daemon + live TUI on a bundled recording (no hardware needed)",
    ),
    "config": (
        "monitor.commands.config",
        "show the daemon's config file and the settings in effect",
    ),
    "review": (
        "monitor.commands.review",
        "clinician review of an encrypted log: episodes, strips, beat statistics, export",
    ),
    "keys": ("monitor.commands.keys", "manage identities and recipients"),
    "log": ("monitor.commands.log", "verify or purge the encrypted log"),
    "export": ("monitor.commands.export", "export raw ECG, beats and events from the log"),
    "scan": ("monitor.commands.scan", "list the ECG / heart-rate straps in range"),
    "record": ("monitor.commands.record", "save a strap's raw notifications to a capture file"),
}
"""Every subcommand: the module that registers it, and its one-line help for `ecgmon
--help` (the module's own parser says the same; tests/test_cli.py checks). Listed here
so that only the chosen command's module is imported: `analyze` pulls in scipy and the
signal path, `tui` Textual, and neither should slow the start of the other."""


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (its first non-option word), or None."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser: every subcommand listed with its help, and the options of `command`
    (its module imported and registered); the other subcommands are placeholders."""
    parser = argparse.ArgumentParser(
        prog="ecgmon",
        description="On-device ECG monitor. " + NON_DIAGNOSTIC_NOTICE,
    )
    parser.add_argument("--version", action="version", version=f"ecgmon {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
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
