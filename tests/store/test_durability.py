"""Which commits wait for the disk: every append by default, never the opt-in
`durable=False` ones (they survive a crash of the process: tests/store/test_crash.py);
and which commit the daemon's sink puts each record in."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from monitor.daemon.storage import BLOCK_S, MAX_WAITING_EPISODES, EncryptedLogSink
from monitor.frame import EcgFrame
from monitor.store import Event, Identity, LogReader, LogWriter, Payload
from tests.store.conftest import T0, ecg_block

FULL, NORMAL = 2, 1


def _sync_level(writer: LogWriter) -> int:
    return int(writer._conn.execute("PRAGMA synchronous").fetchone()[0])


def test_appends_are_fsynced_unless_asked_otherwise(log_path: Path, patient: Identity) -> None:
    with LogWriter(log_path, [patient.recipient]) as writer:
        assert writer.append(ecg_block(0))
        assert _sync_level(writer) == FULL
        assert writer.append(ecg_block(1), durable=False)
        assert _sync_level(writer) == NORMAL
        assert writer.append(ecg_block(2))
        assert _sync_level(writer) == FULL
    with LogReader(log_path) as reader:
        blocks = [r.payload for r in reader.records(patient) if r.payload is not None]
    assert blocks == [ecg_block(0), ecg_block(1), ecg_block(2)]


class _Recording:
    """A LogWriter stand-in that notes each commit: what it held, and whether it asked
    for an fsync."""

    path = Path("log")

    def __init__(self) -> None:
        self.commits: list[tuple[list[str], bool]] = []

    def append(self, payload: Payload, *, durable: bool = True) -> bool:
        return self.append_many([payload], durable=durable)

    def append_many(self, payloads: Iterable[Payload], *, durable: bool = True) -> bool:
        self.commits.append(([_name(p) for p in payloads], durable))
        return True

    def close(self) -> None:
        pass


def _name(payload: Payload) -> str:
    if isinstance(payload, Event):
        return f"{payload.category}:{payload.kind}"
    return type(payload).__name__


def _frame(i: int, seconds: float = BLOCK_S) -> EcgFrame:
    n = round(seconds * 130.0)
    return EcgFrame(T0 + round(i * seconds * 1e9), 130.0, np.zeros(n))


def test_the_sink_commits_episodes_with_the_next_block_and_alerts_at_once() -> None:
    """Default: an episode waits for the next commit (the ECG block's, or an alert's or
    device event's, which it precedes) and is fsync'd with it; alerts, device events
    and the block are committed, with fsync, when they are written."""
    writer = _Recording()
    sink = EncryptedLogSink(writer, lambda: T0)
    sink.write_event("episode", "afib", T0, None, {})
    assert writer.commits == []  # waiting with the block being gathered
    sink.write_frame(_frame(0))
    assert writer.commits == [(["EcgBlock", "episode:afib"], True)]
    sink.write_event("episode", "pause", T0, None, {})
    sink.write_event("alert", "vf", T0, None, {})
    sink.write_event("device", "disconnected", T0, None, {})
    assert writer.commits[1:] == [
        (["episode:pause", "alert:vf"], True),
        (["device:disconnected"], True),
    ]
    sink.write_event("episode", "brady", T0, None, {})
    sink.close()
    assert writer.commits[3:] == [(["episode:brady"], True)]


def test_waiting_episodes_are_bounded() -> None:
    writer = _Recording()
    sink = EncryptedLogSink(writer, lambda: T0)
    for _ in range(MAX_WAITING_EPISODES):
        sink.write_event("episode", "afib", T0, None, {})
    assert writer.commits == [(["episode:afib"] * MAX_WAITING_EPISODES, True)]


def test_fsync_episodes_false_commits_each_episode_at_once_without_fsync() -> None:
    writer = _Recording()
    sink = EncryptedLogSink(writer, lambda: T0, fsync_episodes=False)
    sink.write_event("episode", "afib", T0, None, {})
    sink.write_event("alert", "vf", T0, None, {})
    sink.write_event("device", "disconnected", T0, None, {})
    assert writer.commits == [
        (["episode:afib"], False),
        (["alert:vf"], True),
        (["device:disconnected"], True),
    ]


def test_episodes_are_in_the_log_after_the_next_block(log_path: Path, patient: Identity) -> None:
    """With a real writer: the episode is readable once the next block's commit returned."""
    sink = EncryptedLogSink.open(log_path, [patient.recipient], lambda: T0)
    sink.write_frame(_frame(0))
    sink.write_event("episode", "afib", T0, T0 + 10**9, {"id": 1})

    def stored() -> list[str]:
        with LogReader(log_path) as reader:
            return [_name(r.payload) for r in reader.records(patient) if r.payload is not None]

    assert stored() == ["EcgBlock"]
    sink.write_frame(_frame(1))
    assert stored() == ["EcgBlock", "EcgBlock", "episode:afib"]
    sink.close()
