"""Clients that leave badly leave nothing behind (reliability finding D2).

Clients vanish in every way a real one can: closing at once, closing after the
hello, resetting the connection with data unread, sending malformed requests, never
reading until dropped. Afterwards the daemon holds no task or transport of theirs, and
asyncio has reported nothing (no "Task exception was never retrieved", no unclosed
transport or stream writer, no "socket.send() raised exception").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import struct
import warnings
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon.client import DaemonClient
from tests.daemon.conftest import StartDaemon
from tests.daemon.test_daemon_socket import until


def raw_client(path: Path, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(str(path))
    sock.setblocking(False)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0 (what a killed client looks like, data unread)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_departed_clients_leave_no_task_transport_or_warning(
    start_daemon: StartDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    caplog.set_level(logging.WARNING, logger="asyncio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        daemon = await start_daemon(
            speed=200.0, loop=True, direct=True, client_queue=64, live_interval_s=0.01
        )
        path = daemon.config.socket
        await until(lambda: daemon.stats.frames > 20)

        # 1. connect and close at once; 2. read the hello, then close
        raw_client(path).close()
        quick = await DaemonClient.connect(path)
        await quick.next_of("hello")
        await quick.close()
        # 3. reset with unread data after the live feed started
        unread = raw_client(path)
        await asyncio.sleep(0.3)
        reset(unread)
        # 4. malformed requests: each gets an error reply; an overlong line closes it
        rude = await DaemonClient.connect(path)
        bad = (
            b"{nope\n",
            b'{"v":1,"type":"ack","id":[1]}\n',
            b'{"v":1,"type":"ack","id":1e400}\n',
            b'{"v":1,"type":"ack","id":"x"}\n',
            b'{"v":2,"type":"ping"}\n',
        )
        for line in bad:
            rude.writer.write(line)
        await rude.writer.drain()
        errors = 0
        async with asyncio.timeout(30):
            while errors < len(bad):
                errors += (await rude.next_of("error")) is not None
        with contextlib.suppress(ConnectionError):
            rude.writer.write(b"x" * (2 << 20) + b"\n")
            await rude.writer.drain()
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(30):
                async for _msg in rude.messages():
                    pass  # until the daemon closes it
        rude.writer.transport.abort()
        # 5. never read: dropped once its queue is full, then it leaves
        served = daemon.stats.clients_dropped
        deaf = raw_client(path, rcvbuf=4096)
        await until(lambda: daemon.stats.clients_dropped > served)
        deaf.close()
        # a well-behaved client is still served after all that
        good = await DaemonClient.connect(path)
        await good.next_of("status")
        await good.request("ping")
        await good.next_of("pong")
        await until(lambda: len(daemon._clients) == 1)
        await good.close()
        await until(lambda: not daemon._clients)
        await asyncio.sleep(0.2)  # let every close callback run
        gc.collect()

    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("client-")]
    assert leftovers == []
    assert reported == [], [c.get("message") for c in reported]
    asyncio_logs = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert asyncio_logs == []
    resource = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert resource == []
    assert daemon.stats.clients_served >= 6
