"""The daemon writing the real encrypted log (monitor.store), read back with the identity;
the review and history screens on that log."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("monitor.store.writer", reason="needs monitor.store (the encrypted log)")

from monitor.daemon.client import DaemonClient
from monitor.daemon.config import DaemonConfig
from monitor.daemon.runner import build_daemon
from monitor.store.export import collect
from monitor.store.keys import Identity, write_identity_file
from monitor.store.reader import LogReader
from monitor.store.records import EcgBlock

PASSPHRASE = "correct horse battery staple"


async def run_daemon_to_log(
    csv: Path, folder: Path, identity: Identity, beats_wanted: int = 20
) -> tuple[list[dict[str, Any]], Path]:
    config = replace(
        DaemonConfig(), replay=csv, speed=20.0, socket=folder / "d.sock", log=folder / "log.sqlite"
    )
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


async def test_daemon_log_reads_back_with_the_identity(synthetic_csv: Path, sock_dir: Path) -> None:
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
        (b["i"], b["label"]) for b in beats
    ]
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


def test_sink_blocks_follow_the_host_clock_and_skip_missing_samples(tmp_path: Path) -> None:
    import numpy as np

    from monitor.daemon.storage import BLOCK_S, EncryptedLogSink
    from monitor.frame import EcgFrame

    identity = Identity.generate(role="patient")
    t0 = 1_780_000_000 * 10**9
    sink = EncryptedLogSink.open(tmp_path / "log.sqlite", [identity.recipient], lambda: t0)
    fs = 130.0
    period = 1e9 / fs
    x = np.arange(73 * 40, dtype=np.float64) % 500
    x[100:110] = np.nan  # samples the strap never delivered
    for k in range(40):
        frame = x[k * 73 : (k + 1) * 73]
        start = t0 + round(k * 73 * period) + (10**9 if k >= 30 else 0)  # a 1 s gap at 30
        sink.write_frame(EcgFrame(start, fs, frame))
    assert sink.state()[0] == "writing"
    sink.close()
    data = collect(tmp_path / "log.sqlite", identity, None, None)
    stored = sum(len(b.samples_uv) for b in data.blocks)
    assert stored == 73 * 40 - 10
    assert all(len(b.samples_uv) <= BLOCK_S * fs + 73 for b in data.blocks)
    # No block spans the NaN stretch or the 1 s gap, and samples sit at their host time.
    for block in data.blocks:
        first = round((block.t0_ns - t0) / period)
        if block.t0_ns >= t0 + round(30 * 73 * period) + 10**9:
            first -= round(10**9 / period)
        expected = np.rint(x[first : first + len(block.samples_uv)])
        np.testing.assert_array_equal(block.samples_uv, expected)
