"""`ecgmon tui`: the live view of a running daemon, over its local socket."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.daemon.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tui",
        help="live terminal view of the running daemon (ECG, heart rate, rhythm, alerts)",
        description="Open the live screen of the daemon at --socket (default: the one in the "
        "config). It keeps trying to connect and says so while no daemon answers.",
    )
    parser.add_argument("--socket", type=Path, help="daemon socket (default: from the config)")
    parser.add_argument("--config", type=Path, help="config file (default: the user config dir)")
    parser.add_argument("--light", action="store_true", help="start in the light theme")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from monitor.tui.app import MonitorApp  # Textual loads only for this command

    config = load_config(args.config)
    socket_path = args.socket or config.socket
    MonitorApp(
        socket_path, dark=not args.light, log_path=config.log, identity_path=config.identity
    ).run()
    return 0
