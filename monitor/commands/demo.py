"""`ecgmon demo`: the whole product on a bundled recording, no hardware, no setup.

Starts a daemon on the recording (paced as a strap would send it) with a private
socket in a temporary folder, then opens the live TUI as a client of that socket.
Quitting stops both and removes the temporaries. `--headless` prints one status
line per second instead (for scripts and CI).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import monitor
from monitor.daemon.client import DaemonClient
from monitor.daemon.config import DaemonConfig
from monitor.daemon.runner import build_daemon, run_until_signalled, temporary_identity
from monitor.daemon.service import Daemon
from monitor.daemon.statusline import format_status
from monitor.errors import InputError

DEFAULT_RECORDING = Path(monitor.__file__).resolve().parents[1] / "fixtures" / "synthetic_130hz.csv"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run daemon + live TUI on a bundled recording (no hardware needed)",
        description="Replay a recording through the daemon at real time (or --speed N) and "
        "open the live TUI on it. Everything lives in a temporary folder removed on exit.",
    )
    parser.add_argument(
        "recording",
        nargs="?",
        type=Path,
        default=DEFAULT_RECORDING,
        help=f"recording to replay (default: {DEFAULT_RECORDING.name})",
    )
    parser.add_argument("--fs", type=float, help="sample rate of a CSV recording (default 130)")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    parser.add_argument(
        "--headless", action="store_true", help="no TUI: print one status line per second"
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (wall clock); default: until quit",
    )
    parser.add_argument(
        "--no-loop", action="store_true", help="play the recording once (default: loop it)"
    )
    parser.add_argument("--light", action="store_true", help="start the TUI in the light theme")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.recording.exists() and not Path(f"{args.recording}.hea").exists():
        raise InputError(f"no such recording: {args.recording}")
    if args.duration is not None and args.duration <= 0:
        raise InputError("--duration must be positive")
    # Alerts are on screen (TUI) or in the status lines: log records would only garble them.
    logging.getLogger("ecgmon").addHandler(logging.NullHandler())
    logging.getLogger("ecgmon").propagate = False
    tmp = Path(tempfile.mkdtemp(prefix="ecgmon-demo-"))
    try:
        config = DaemonConfig(
            replay=args.recording,
            replay_fs=args.fs,
            speed=args.speed,
            loop=not args.no_loop,
            socket=tmp / "ecgmon.sock",
            log=tmp / "ecgmon-log.sqlite",
        )
        identity = temporary_identity()  # in memory only; the log dies with the folder
        recipients = None if identity is None else [identity.recipient]
        daemon = build_daemon(config, recipients)
        if args.headless:
            asyncio.run(_headless(daemon, args.duration))
        else:
            asyncio.run(_with_tui(daemon, args.duration, dark=not args.light, identity=identity))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


async def _headless(daemon: Daemon, duration: float | None) -> None:
    print(f"ecgmon demo: {daemon.source.describe()}", flush=True)
    serving = asyncio.create_task(run_until_signalled(daemon))
    await _started(daemon, serving)
    client = await DaemonClient.connect(daemon.config.socket)
    deadline = None if duration is None else time.monotonic() + duration
    alerts: dict[int, str] = {}
    try:
        async with _timeout_at(deadline):
            async for msg in client.messages():
                if msg["type"] == "alert":
                    if msg["active"]:
                        alerts[msg["id"]] = f"{msg['severity']}: {msg['message']}"
                    else:
                        alerts.pop(msg["id"], None)
                elif msg["type"] == "status":
                    print(format_status(msg, list(alerts.values())), flush=True)
                if serving.done():
                    break
    except TimeoutError:
        pass
    finally:
        await client.close()
        daemon.stop()
        await serving


async def _with_tui(daemon: Daemon, duration: float | None, dark: bool, identity: Any) -> None:
    from monitor.tui.app import MonitorApp

    serving = asyncio.create_task(run_until_signalled(daemon))
    await _started(daemon, serving)
    app = MonitorApp(daemon.config.socket, dark=dark, log_path=daemon.config.log, identity=identity)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        # SIGTERM ends the app; the daemon is stopped on the way out (below).
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, app.exit)
    timer = None
    if duration is not None:
        timer = asyncio.get_running_loop().call_later(duration, app.exit)
    try:
        await app.run_async()
    finally:
        if timer is not None:
            timer.cancel()
        daemon.stop()
        await serving


async def _started(daemon: Daemon, serving: asyncio.Task[None]) -> None:
    """Wait for the socket to be up, or re-raise why the daemon could not start."""
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait({ready, serving}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        ready.cancel()
        serving.result()
        print("ecgmon demo: the daemon stopped before it started", file=sys.stderr)


@contextlib.asynccontextmanager
async def _timeout_at(deadline: float | None) -> AsyncIterator[None]:
    if deadline is None:
        yield
        return
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(loop.time() + (deadline - time.monotonic())):
        yield
