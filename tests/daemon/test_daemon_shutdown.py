"""A stop always ends: during a strap switch, during a reconnect, with a client that
never reads, and for the real process on SIGTERM.

The waits here are generous bounds on outcomes (did it stop at all, did it give up on
the source), never speed measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.ble.session import SessionConfig, StrapSession
from monitor.ble.virtual import Faults, VirtualStrap
from monitor.daemon.config import DaemonConfig
from monitor.daemon.service import SHUTDOWN_STEP_S, Daemon
from monitor.daemon.strap import StrapSource
from monitor.pipeline import Pipeline
from tests.daemon.synthetic import FS, synthetic_ecg, write_csv
from tests.daemon.test_daemon_socket import until

STOP_BOUND_S = 3 * SHUTDOWN_STEP_S + 5


def deaf_client(path: Path) -> socket.socket:
    """A client that never reads, with a tiny receive buffer (fills at once)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(str(path))
    return sock


async def test_a_stop_as_the_recording_ends_is_not_lost(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression for the SIGTERM hang: the stop arrives while the strap session is
    closing at the end of a looped recording, and closing the session swallows the
    cancellation (as StrapSession.close can, awaiting its supervisor inside
    suppress(CancelledError)). The source must still stop, not move on to a new strap."""
    x, _ = synthetic_ecg(6.0)
    strap = VirtualStrap(x, FS, speed=20.0)
    source = StrapSource(SessionConfig(name=strap.name), strap, "virtual strap, looped", loop=True)
    daemon = Daemon(replace(DaemonConfig(), socket=sock_dir / "d.sock"), source, Pipeline())
    sessions: list[StrapSession] = []
    real_init, real_close = StrapSession.__init__, StrapSession.close

    def init(self: StrapSession, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        real_init(self, *args, **kwargs)

    async def close(self: StrapSession) -> None:
        if len(sessions) == 1:
            daemon.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.5)  # the stop's cancel lands here, and is lost
        await real_close(self)

    monkeypatch.setattr(StrapSession, "__init__", init)
    monkeypatch.setattr(StrapSession, "close", close)
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(STOP_BOUND_S + 30):
        await task
    assert len(sessions) == 1, "the source went on to a new strap after the stop"
    assert not [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert not daemon.config.socket.exists()


async def test_a_stop_during_a_reconnect_with_a_deaf_client_ends(sock_dir: Path) -> None:
    x, _ = synthetic_ecg(60.0)
    strap = VirtualStrap(
        x, FS, speed=10.0, faults=Faults(disconnect_after_s=20.0, out_of_range_s=600.0)
    )
    source = StrapSource(SessionConfig(name=strap.name, scan_timeout_s=30.0), strap, "faulty")
    daemon = Daemon(replace(DaemonConfig(), socket=sock_dir / "d.sock"), source, Pipeline())
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    await until(lambda: daemon.stats.frames > 5)
    deaf = deaf_client(daemon.config.socket)
    try:
        await until(lambda: daemon.alerts.is_active("disconnected"))  # reconnecting, in vain
        await asyncio.sleep(0.5)
        assert daemon._clients, "the deaf client is still connected when the stop comes"
        stopped_at = time.monotonic()
        daemon.stop()
        async with asyncio.timeout(STOP_BOUND_S + 30):
            await task
        assert time.monotonic() - stopped_at < STOP_BOUND_S
        assert not daemon._clients
        deaf.settimeout(10)
        with contextlib.suppress(ConnectionError):
            while deaf.recv(1 << 16):
                pass  # what was sent, then the end: the daemon closed its side
    finally:
        deaf.close()


def test_sigterm_with_a_deaf_client_exits_cleanly(tmp_path: Path, sock_dir: Path) -> None:
    """The real process, a client that never reads, SIGTERM: exit status 0, socket gone."""
    csv = write_csv(tmp_path / "rec.csv", duration_s=30.0)
    sock = sock_dir / "d.sock"
    err = (tmp_path / "err").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "daemon",
            "--replay",
            str(csv),
            "--speed",
            "20",
            "--loop",
            "--socket",
            str(sock),
            "--config",
            str(tmp_path / "none.toml"),
            "--recipients-file",
            str(tmp_path / "none.json"),
            "--log",
            str(tmp_path / "l.sqlite"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    deaf = None
    try:
        deadline = time.monotonic() + 120
        while deaf is None:
            try:
                deaf = deaf_client(sock)
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "err"
                ).read_text()
                time.sleep(0.1)
        time.sleep(2.0)  # streaming; the deaf client's buffers are full
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_BOUND_S + 30) == 0, (tmp_path / "err").read_text()
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if deaf is not None:
            deaf.close()


STUCK = """
import asyncio, os, signal
from monitor.daemon.runner import run_until_signalled

class Stuck:  # a daemon whose stop never takes (what a wedged BLE stack could cause)
    def stop(self):
        pass
    async def run(self):
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
        await asyncio.Event().wait()

asyncio.run(run_until_signalled(Stuck(), deadline_s=1.0))
"""


def test_a_stop_that_never_takes_still_ends_the_process() -> None:
    """The last resort: after the deadline the process exits (status 3) with its stacks."""
    run = subprocess.run([sys.executable, "-c", STUCK], capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    assert "did not stop within 1 s" in run.stderr and "Current thread" in run.stderr


class _StubbornSource:
    """A source whose first cancellation is swallowed (as a library's
    suppress(CancelledError) around an await can do); only a second one stops it."""

    def __init__(self) -> None:
        self.swallowed = 0

    def describe(self) -> str:
        return "a source that swallows a cancel"

    async def events(self) -> Any:
        from monitor.daemon.sources import ConnectionEvent

        yield ConnectionEvent("connected", "stubborn")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.swallowed += 1
        await asyncio.Event().wait()
        yield ConnectionEvent("ended", "never")


async def test_a_swallowed_cancel_is_repeated(
    sock_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _StubbornSource()
    daemon = Daemon(replace(DaemonConfig(), socket=sock_dir / "d.sock"), source, Pipeline())
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    await until(lambda: daemon.connection == "connected")
    daemon.stop()
    async with asyncio.timeout(STOP_BOUND_S + 30):
        await task
    assert source.swallowed == 1
    assert not [r for r in caplog.records if "abandoned" in r.getMessage()]
