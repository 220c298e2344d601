"""Daemon fixtures: a synthetic recording, a short private socket path, a running daemon."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon.config import DaemonConfig
from monitor.daemon.runner import build_source
from monitor.daemon.service import Daemon
from monitor.daemon.sources import ReplaySource
from monitor.pipeline import Pipeline
from tests.daemon.synthetic import write_csv


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("rec") / "synthetic.csv", duration_s=60.0)


@pytest.fixture(scope="session")
def short_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("rec") / "short.csv", duration_s=8.0)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short folder for the socket (Unix socket paths are limited to ~100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="ecgd-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


StartDaemon = Callable[..., Any]


@pytest.fixture
async def start_daemon(sock_dir: Path, synthetic_csv: Path) -> AsyncIterator[StartDaemon]:
    """start_daemon(**config) -> a running in-process Daemon on a replay; stopped afterwards."""
    running: list[tuple[Daemon, asyncio.Task[None]]] = []

    async def start(
        recording: Path | None = None, sink: Any = None, direct: bool = False, **settings: Any
    ) -> Daemon:
        """direct: replay without BLE (the fallback); else through the virtual strap."""
        allowed_uid = settings.pop("allowed_uid", None)
        config = replace(
            DaemonConfig(),
            replay=recording or synthetic_csv,
            socket=sock_dir / "d.sock",
            **settings,
        )
        assert config.replay is not None
        source = (
            ReplaySource(config.replay, speed=config.speed, loop=config.loop)
            if direct
            else build_source(config)
        )
        daemon = Daemon(config, source, Pipeline(), sink=sink, allowed_uid=allowed_uid)
        task = asyncio.create_task(daemon.run())
        running.append((daemon, task))
        await asyncio.wait(
            {task, asyncio.create_task(daemon.ready.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if task.done():
            task.result()
        return daemon

    yield start
    for daemon, task in running:
        daemon.stop()
        await asyncio.wait_for(task, 10)
