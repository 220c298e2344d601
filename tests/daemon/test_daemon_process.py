"""`ecgmon daemon` as a real process: only Unix sockets, clean stop on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from monitor.daemon.client import DaemonClient


async def _start(csv: Path, sock: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "daemon",
            "--replay",
            str(csv),
            "--speed",
            "5",
            "--socket",
            str(sock),
            "--config",
            str(sock.parent / "none.toml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    # The daemon prints its first line before it binds; then wait for its greeting.
    line = await asyncio.to_thread(proc.stdout.readline)
    assert "socket" in line, line + proc.stderr.read() if proc.stderr else line
    async with asyncio.timeout(60):
        while True:
            try:
                client = await DaemonClient.connect(sock)
                break
            except OSError:
                await asyncio.sleep(0.05)
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        await client.next_of("hello")
        await client.close()
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_daemon_holds_only_unix_sockets_and_stops_cleanly(
    sig: signal.Signals, synthetic_csv: Path, sock_dir: Path
) -> None:
    sock = sock_dir / "d.sock"
    proc = await _start(synthetic_csv, sock)
    try:
        client = await DaemonClient.connect(sock)
        await client.next_of("status")  # a client is connected while we look
        conns = psutil.Process(proc.pid).net_connections(kind="all")
        families = {c.family for c in conns}
        assert families == {socket.AF_UNIX}, conns
        assert any(c.laddr == str(sock) for c in conns)
        assert psutil.Process(proc.pid).net_connections(kind="inet") == []
        # And from /proc: every socket fd of the process is a Unix socket.
        inodes = set()
        for fd in os.listdir(f"/proc/{proc.pid}/fd"):
            target = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        net = Path(f"/proc/{proc.pid}/net")
        unix = {line.split()[6] for line in (net / "unix").read_text().splitlines()[1:]}
        inet: set[str] = set()
        for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
            if (net / table).exists():
                inet |= {line.split()[9] for line in (net / table).read_text().splitlines()[1:]}
        assert inodes and inodes <= unix and not inodes & inet

        proc.send_signal(sig)
        bye = await client.next_of("bye")
        assert bye["reason"] == "daemon stopping"
        await client.close()
        rc = await asyncio.to_thread(proc.wait, 30)
        assert rc == 0
        assert not sock.exists()  # the socket is removed on the way out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_second_daemon_on_the_same_socket_is_refused(
    synthetic_csv: Path, sock_dir: Path
) -> None:
    sock = sock_dir / "d.sock"
    first = await _start(synthetic_csv, sock)
    try:
        second = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "monitor",
                "daemon",
                "--replay",
                str(synthetic_csv),
                "--socket",
                str(sock),
                "--config",
                str(sock_dir / "none.toml"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert "already serving" in second.stderr.strip().splitlines()[-1]
        assert "Traceback" not in second.stderr
        assert first.poll() is None and sock.exists()
    finally:
        first.terminate()
        first.wait(30)
