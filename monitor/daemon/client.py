"""A client of the daemon's socket: connect, read messages, send requests.

The TUI, `ecgmon demo --headless` and the tests all talk to the daemon through this,
over the real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from monitor.daemon import protocol


class DaemonClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, path: Path | str) -> DaemonClient:
        reader, writer = await asyncio.open_unix_connection(
            str(path), limit=protocol.MAX_LINE_BYTES
        )
        return cls(reader, writer)

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Every message until the daemon closes the connection."""
        while True:
            line = await self.reader.readline()
            if not line:
                return
            yield protocol.decode(line)

    async def next_of(self, kind: str) -> dict[str, Any]:
        """The next message of one type (others are skipped); EOFError if the daemon closes."""
        async for msg in self.messages():
            if msg["type"] == kind:
                return msg
        raise EOFError("the daemon closed the connection")

    async def request(self, kind: str, **fields: Any) -> None:
        self.writer.write(protocol.encode(kind, **fields))
        await self.writer.drain()

    async def acknowledge(self, alert_id: int) -> None:
        await self.request("ack", id=alert_id)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
