"""`ecgmon daemon`: stream, analyse and log ECG, serving status on a local socket.

Settings come from the config file (`ecgmon config` shows it); every option here
overrides the file for this run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from monitor.daemon.config import load_config
from monitor.daemon.runner import build_daemon, run_until_signalled


def add_daemon_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `daemon` and `config` (they describe the same settings)."""
    parser.add_argument("--strap", help="strap address or name, e.g. 'Polar H10 1A2B3C4D'")
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="replay a recording (WFDB record or CSV) instead of a strap",
    )
    parser.add_argument(
        "--replay-fs", type=float, metavar="HZ", help="sample rate of a CSV replay (default 130)"
    )
    parser.add_argument("--speed", type=float, help="replay speed factor (default 1 = real time)")
    parser.add_argument(
        "--loop", action="store_true", default=None, help="replay the recording over and over"
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        default=None,
        help="replay without the virtual strap (no BLE simulation; for fast "
        "replays: the source waits for the pipeline instead of queueing)",
    )
    parser.add_argument("--socket", type=Path, help="socket path (default: the runtime dir)")
    parser.add_argument("--log", type=Path, help="the encrypted log file")
    parser.add_argument(
        "--recipients-file",
        type=Path,
        help="public keys the log is encrypted to (default: `ecgmon keys` list)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        dest="stale_after_s",
        metavar="S",
        help="seconds without ECG before the stale-data alert (default 5)",
    )
    parser.add_argument(
        "--identity", type=Path, help="patient identity file, for the TUI's history screen"
    )
    parser.add_argument(
        "--client-queue",
        type=int,
        metavar="N",
        help="messages buffered per client before a slow one is dropped (512)",
    )
    parser.add_argument(
        "--status-interval",
        type=float,
        dest="status_interval_s",
        metavar="S",
        help="seconds between status messages (default 1)",
    )
    parser.add_argument(
        "--live-interval",
        type=float,
        dest="live_interval_s",
        metavar="S",
        help="a replay faster than real time sends live samples/beats at most "
        "this often (default 0.1; a strap sends each notification at once)",
    )
    parser.add_argument("--config", type=Path, help="config file (default: the user config dir)")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "strap",
        "replay",
        "replay_fs",
        "speed",
        "loop",
        "direct",
        "socket",
        "log",
        "recipients_file",
        "stale_after_s",
        "identity",
        "client_queue",
        "status_interval_s",
        "live_interval_s",
    )
    return {k: getattr(args, k, None) for k in keys}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "daemon",
        help="run the monitor: strap or replay -> beats, rhythm, log; status on a local socket",
        description="Stream ECG from a strap (or replay a recording), analyse it, write the "
        "encrypted log and serve status to `ecgmon tui` over a Unix socket only this user can "
        "open. Stops cleanly on SIGINT/SIGTERM.",
    )
    add_daemon_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    config = load_config(args.config, overrides(args))
    daemon = build_daemon(config)
    print(f"ecgmon daemon: {daemon.source.describe()}; socket {config.socket}", flush=True)
    asyncio.run(run_until_signalled(daemon))
    print("ecgmon daemon: stopped", flush=True)
    return 0
