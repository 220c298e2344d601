"""The daemon over its real Unix socket: messages, permissions, peers, slow clients, alerts."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from monitor.classify.beat import ClassifiedBeat
from monitor.daemon import protocol
from monitor.daemon.client import DaemonClient
from monitor.frame import EcgFrame
from monitor.pipeline import UNCLASSIFIED
from tests.daemon.conftest import StartDaemon

TIMEOUT = 60.0


async def until(predicate: Any, timeout: float = TIMEOUT) -> None:
    """Wait for a condition the daemon reaches by itself (polled; the outcome is not timed)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def collect(
    client: DaemonClient, done: Any, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    """Read messages until done(messages) is true."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        async for msg in client.messages():
            seen.append(msg)
            if done(seen):
                return seen
    raise AssertionError(f"connection closed before the condition held ({len(seen)} messages)")


def beats_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages if m["type"] == "beats" for b in m["beats"]]


@pytest.mark.parametrize("direct", [False, True], ids=["virtual-strap", "direct-replay"])
async def test_client_gets_hello_status_samples_and_unclassified_beats(
    start_daemon: StartDaemon, direct: bool
) -> None:
    daemon = await start_daemon(speed=20.0, direct=direct)
    client = await DaemonClient.connect(daemon.config.socket)
    msgs = await collect(client, lambda seen: len(beats_in(seen)) >= 10)
    await client.close()

    assert msgs[0]["type"] == "hello" and msgs[0]["v"] == protocol.PROTOCOL_VERSION
    assert msgs[0]["trace_fs"] == pytest.approx(65.0)
    assert ("not through BLE" if direct else "bleak BleakClient") in msgs[0]["source"]
    status = next(m for m in msgs if m["type"] == "status")
    for key in (
        "connection",
        "battery_pct",
        "quality",
        "heart_rate_bpm",
        "rhythm",
        "counts",
        "storage",
        "last_sample_age_s",
        "stages",
    ):
        assert key in status
    assert status["stages"]["classifier"] == "none"
    assert status["storage"]["state"] == "off"
    samples = [m for m in msgs if m["type"] == "samples"]
    assert samples and all(m["fs"] == pytest.approx(65.0) for m in samples)
    # Sample messages continue each other (nothing skipped at 20x real time).
    for a, b in itertools.pairwise(samples):
        assert b["start"] == a["start"] + len(a["uv"])
    beats = beats_in(msgs)
    # Without a classifier every beat says so: label "?" with zero confidence.
    assert {b["label"] for b in beats} == {UNCLASSIFIED}
    assert all(b["conf"] == 0.0 for b in beats)
    rr = [b["rr_before"] for b in beats if b["rr_before"] is not None]
    assert 0.5 < sorted(rr)[len(rr) // 2] < 0.9  # the recording is at 75 bpm (0.8 s)


async def test_socket_is_private(start_daemon: StartDaemon) -> None:
    daemon = await start_daemon(speed=5.0)
    path = daemon.config.socket
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0


async def test_peer_of_another_uid_is_refused(start_daemon: StartDaemon) -> None:
    # The peer check compares SO_PEERCRED's uid with the allowed one; a test cannot
    # become another user, so the daemon is told to allow a different uid instead.
    daemon = await start_daemon(speed=5.0, allowed_uid=os.getuid() + 1)
    client = await DaemonClient.connect(daemon.config.socket)
    msgs = [m async for m in client.messages()]
    assert [m["type"] for m in msgs] == ["error"]
    assert "refused" in msgs[0]["message"]
    assert daemon.stats.clients_refused == 1 and daemon.stats.clients_served == 0


async def test_slow_client_is_dropped_and_others_keep_going(start_daemon: StartDaemon) -> None:
    daemon = await start_daemon(speed=100.0, loop=True, client_queue=4, live_interval_s=0.02)
    # A raw socket that never reads (an asyncio reader would buffer for it in memory).
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(str(daemon.config.socket))
    fast = await DaemonClient.connect(daemon.config.socket)
    reader = asyncio.create_task(collect(fast, lambda seen: False, timeout=TIMEOUT))
    await until(lambda: daemon.stats.clients_dropped >= 1)
    frames_at_drop = daemon.stats.frames
    await until(lambda: daemon.stats.frames > frames_at_drop + 100)  # the pipeline went on
    assert not reader.done()  # the fast client is still being served
    assert len(daemon._clients) == 1
    reader.cancel()
    # The slow client finds its connection closed once it drains what was sent.
    slow.setblocking(False)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(TIMEOUT):
        while await loop.sock_recv(slow, 1 << 16):
            pass
    slow.close()
    await fast.close()


async def test_source_end_and_stale_data_raise_alerts_until_acknowledged(
    start_daemon: StartDaemon, short_csv: Path
) -> None:
    daemon = await start_daemon(recording=short_csv, speed=50.0, stale_after_s=0.3)
    client = await DaemonClient.connect(daemon.config.socket)

    def alert_kinds(seen: list[dict[str, Any]]) -> set[str]:
        return {m["kind"] for m in seen if m["type"] == "alert"}

    msgs = await collect(client, lambda seen: {"stale", "source_ended"} <= alert_kinds(seen))
    stale = next(m for m in msgs if m["type"] == "alert" and m["kind"] == "stale")
    assert stale["severity"] == "critical" and stale["active"] and not stale["acknowledged"]
    status = await client.next_of("status")
    assert status["stale"] is True and status["connection"] == "ended"

    await client.acknowledge(stale["id"])
    update = await collect(
        client, lambda seen: any(m["type"] == "alert" and m["id"] == stale["id"] for m in seen)
    )
    assert update[-1]["acknowledged"] is True
    # Acknowledged but the condition persists: still listed by the daemon, as acknowledged.
    kept = {a.id: a for a in daemon.alerts.pending()}
    assert kept[stale["id"]].acknowledged and kept[stale["id"]].active
    await client.close()


class DevFullSink:
    """A log writer whose file is /dev/full: the kernel answers every write with ENOSPC."""

    def __init__(self) -> None:
        self.handle = open("/dev/full", "wb", buffering=0)  # noqa: SIM115

    def write_frame(self, frame: EcgFrame) -> None:
        self.handle.write(frame.samples_uv.tobytes())

    def write_beats(self, beats: list[ClassifiedBeat]) -> None:
        self.handle.write(repr(beats).encode())

    def write_event(
        self, category: str, kind: str, t_ns: int, end_ns: int | None, data: dict[str, Any]
    ) -> None:
        self.handle.write(repr((category, kind, t_ns, end_ns, data)).encode())

    def close(self) -> None:
        self.handle.close()

    def describe(self) -> str:
        return "raw file on /dev/full"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
async def test_full_disk_becomes_an_alert_and_a_status_field(start_daemon: StartDaemon) -> None:
    daemon = await start_daemon(speed=10.0, sink=DevFullSink())
    client = await DaemonClient.connect(daemon.config.socket)
    msgs = await collect(
        client, lambda seen: any(m["type"] == "alert" and m["kind"] == "storage" for m in seen)
    )
    alert = msgs[-1]
    assert alert["severity"] == "critical" and "disk full" in alert["message"]
    status = await client.next_of("status")
    assert status["storage"]["state"] == "full"
    # The live view goes on after the storage failure.
    await collect(client, lambda seen: len(beats_in(seen)) >= 3)
    await client.close()


async def test_bad_requests_get_an_error_not_a_crash(start_daemon: StartDaemon) -> None:
    daemon = await start_daemon(speed=5.0)
    client = await DaemonClient.connect(daemon.config.socket)
    client.writer.write(b"not json\n")
    client.writer.write(b'{"v": 99, "type": "ping"}\n')
    client.writer.write(protocol.encode("ping"))
    await client.writer.drain()
    msgs = await collect(client, lambda seen: any(m["type"] == "pong" for m in seen))
    errors = [m for m in msgs if m["type"] == "error"]
    assert len(errors) == 2 and "version" in errors[1]["message"]
    await client.close()


async def test_live_data_goes_out_in_the_turn_that_produced_it() -> None:
    """No timer between a strap notification and the clients: after the frame is
    processed, one turn of the event loop puts its samples (and any beats decided) in
    every client's queue. Frames processed in one turn share one message."""
    from dataclasses import replace as with_

    from monitor.daemon.config import DaemonConfig
    from monitor.daemon.service import Daemon, _Client
    from monitor.daemon.sources import ReplaySource
    from monitor.pipeline import Pipeline
    from tests.daemon.synthetic import FS, synthetic_ecg

    x, _ = synthetic_ecg(30.0)
    daemon = Daemon(DaemonConfig(), ReplaySource.__new__(ReplaySource), Pipeline())
    client = _Client(writer=None, queue=asyncio.Queue(), uid=os.getuid())  # type: ignore[arg-type]
    daemon._clients.add(client)
    beats_out = 0
    for lo in range(0, x.size - 73 + 1, 73):
        daemon._on_frame(EcgFrame(lo * 10**9 // 130, FS, x[lo : lo + 73]))
        decided = len(daemon._pending_beats)
        await asyncio.sleep(0)  # one turn
        sent = [protocol.decode(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
        assert [m["type"] for m in sent] == (["samples", "beats"] if decided else ["samples"])
        assert sent[0]["start"] == lo // 2
        beats_out += len(sent[1]["beats"]) if decided else 0
    assert beats_out >= 30
    # a burst: three frames in one turn, one message of each type
    daemon._on_frame(EcgFrame(0, FS, x[:73]))
    daemon._on_frame(EcgFrame(0, FS, x[73:146]))
    daemon._on_frame(EcgFrame(0, FS, x[146:219]))
    await asyncio.sleep(0)
    sent = [protocol.decode(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
    kinds = [m["type"] for m in sent]
    assert kinds[0] == "samples" and len(set(kinds)) == len(kinds)
    assert len(sent[0]["uv"]) in (219 // 2, 219 // 2 + 1)  # plus a sample carried over
    # a replay faster than real time is paced (at most one message per live_interval_s)
    fast = Daemon(
        with_(DaemonConfig(), replay=Path("x.csv"), speed=50.0, live_interval_s=60.0),
        ReplaySource.__new__(ReplaySource),
        Pipeline(),
    )
    slow_client = _Client(writer=None, queue=asyncio.Queue(), uid=os.getuid())  # type: ignore[arg-type]
    fast._clients.add(slow_client)
    for lo in range(0, 73 * 10, 73):
        fast._on_frame(EcgFrame(lo * 10**9 // 130, FS, x[lo : lo + 73]))
        await asyncio.sleep(0)
    assert slow_client.queue.qsize() == 1  # the first went out; the rest waits its turn


async def test_status_keeps_its_cadence_while_frames_carry_it(start_daemon: StartDaemon) -> None:
    """Status messages go out with the frames near each due moment (or by a timer when
    no frame is near): about one per status_interval_s, never one per frame."""
    interval = 0.5
    daemon = await start_daemon(speed=1.0, loop=True, status_interval_s=interval)
    client = await DaemonClient.connect(daemon.config.socket)
    await client.next_of("status")  # the welcome's
    loop = asyncio.get_running_loop()
    times: list[float] = []
    frames_before = daemon.stats.frames
    async with asyncio.timeout(TIMEOUT):
        while len(times) < 8:
            await client.next_of("status")
            times.append(loop.time())
    frames = daemon.stats.frames - frames_before
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert frames >= 5  # frames flowed meanwhile (one every 0.56 s)
    # On a fixed cadence: the 7 gaps span 7 intervals, within the slack either side.
    assert 7 * interval - 2 * interval <= times[-1] - times[0] <= 7 * interval + 2 * interval
    assert min(gaps) > interval * (1 - 2 * 0.3) - 0.05
    await client.close()
