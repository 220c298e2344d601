"""Building a daemon from its config, and running it until SIGINT/SIGTERM.

This is where the parts are chosen: the source (strap or replay), the pipeline's
stages (whichever are installed) and the log writer. Each choice that falls back to
a stand-in is reported in the daemon's status (`stages`, `source`, `storage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from monitor.daemon.config import DaemonConfig
from monitor.daemon.service import Daemon
from monitor.daemon.sources import ReplaySource, Source
from monitor.errors import InputError
from monitor.pipeline import Pipeline


def build_source(config: DaemonConfig) -> Source:
    if config.replay is not None:
        return ReplaySource(config.replay, speed=config.speed, fs=config.replay_fs,
                            loop=config.loop)
    if config.strap:
        raise InputError("streaming from a BLE strap is not in this build yet (monitor.ble); "
                         "use --replay FILE")
    raise InputError("no source: give a strap (--strap ADDRESS_OR_NAME) or --replay FILE")


def build_pipeline() -> Pipeline:
    """The pipeline with every stage this installation has."""
    return Pipeline()


def build_daemon(config: DaemonConfig) -> Daemon:
    return Daemon(config, build_source(config), build_pipeline())


async def run_until_signalled(daemon: Daemon) -> None:
    """Run `daemon`; SIGINT and SIGTERM make it stop cleanly."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, daemon.stop)
            installed.append(sig)
    try:
        await daemon.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
