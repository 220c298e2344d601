"""The daemon writing the real encrypted log (monitor.store), read back with the identity;
the review and history screens on that log."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("monitor.store.writer", reason="needs monitor.store (the encrypted log)")

from monitor.store.export import collect
from monitor.store.keys import Identity, write_identity_file
from monitor.store.reader import LogReader
from monitor.store.records import EcgBlock

from monitor.daemon.client import DaemonClient
from monitor.daemon.config import DaemonConfig
from monitor.daemon.runner import build_daemon

PASSPHRASE = "correct horse battery staple"


async def run_daemon_to_log(csv: Path, folder: Path, identity: Identity,
                            beats_wanted: int = 20) -> tuple[list[dict[str, Any]], Path]:
    config = replace(DaemonConfig(), replay=csv, speed=20.0, socket=folder / "d.sock",
                     log=folder / "log.sqlite")
    daemon = build_daemon(config, [identity.recipient])
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    client = await DaemonClient.connect(config.socket)
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(60):
        async for msg in client.messages():
            if msg["type"] == "beats":
                seen += msg["beats"]
            if msg["type"] == "status":
                assert msg["storage"]["state"] == "writing", msg["storage"]
            if len(seen) >= beats_wanted:
                break
    daemon.stop()  # as on SIGTERM: flush, close the segment
    async with asyncio.timeout(60):
        async for msg in client.messages():
            if msg["type"] == "beats":
                seen += msg["beats"]
    await task
    return seen, config.log


async def test_daemon_log_reads_back_with_the_identity(
    synthetic_csv: Path, sock_dir: Path
) -> None:
    identity = Identity.generate(role="patient")
    beats, log = await run_daemon_to_log(synthetic_csv, sock_dir, identity)
    with LogReader(log) as reader:
        report = reader.verify(identity)
    assert report.ok, report.render()
    data = collect(log, identity, None, None)
    assert data.blocks and all(isinstance(b, EcgBlock) for b in data.blocks)
    stored = [b for _, b in data.beats]
    # Every beat a client saw is in the log, with the same index and label.
    assert [(b.index, b.label) for b in stored][: len(beats)] == [
        (b["i"], b["label"]) for b in beats]
    # Beat times in the log land on the stored raw ECG.
    first = min(b.t0_ns for b in data.blocks)
    assert all(t >= first for t, _ in data.beats)


async def test_wrong_identity_cannot_read(synthetic_csv: Path, sock_dir: Path) -> None:
    identity = Identity.generate(role="patient")
    _, log = await run_daemon_to_log(synthetic_csv, sock_dir, identity, beats_wanted=5)
    from monitor.store.errors import WrongIdentityError

    with pytest.raises(WrongIdentityError):
        collect(log, Identity.generate(role="clinician"), None, None)


async def test_review_and_history_on_the_real_log(synthetic_csv: Path, sock_dir: Path) -> None:
    from monitor.tui.app import MonitorApp
    from monitor.tui.logview import load_log_view
    from monitor.tui.review import LogStrip, ReviewApp, ReviewScreen, export_with_store

    identity = Identity.generate(role="clinician")
    beats, log = await run_daemon_to_log(synthetic_csv, sock_dir, identity)
    view = load_log_view(log, identity)
    assert view.stats()["beats"] >= len(beats)
    out = sock_dir / "export"
    app = ReviewApp(view, "review", export_with_store(log, identity, out))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        letters = str(screen.query_one(LogStrip).render()).splitlines()[-1]
        assert sum(letters.count(c) for c in "NSVFQ?") >= 5
        await pilot.press("e")
        await pilot.pause()
        assert "exported" in screen.last_export
    assert list(out.glob("strip-*/*"))

    # The patient's history screen: h, the passphrase of the identity file, the review.
    key = sock_dir / "patient.key"
    write_identity_file(key, identity, PASSPHRASE, scrypt_log_n=10)
    live = MonitorApp(None, log_path=log, identity_path=key)
    async with live.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await pilot.pause()
        await pilot.press(*PASSPHRASE, "enter")
        async with asyncio.timeout(60):
            while not isinstance(live.screen, ReviewScreen):
                await pilot.pause(0.05)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(live.screen, ReviewScreen)
