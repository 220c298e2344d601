"""Which commits wait for the disk: every append by default, never the opt-in
`durable=False` ones (they survive a crash of the process: tests/store/test_crash.py)."""

from __future__ import annotations

from pathlib import Path

from monitor.daemon.storage import EncryptedLogSink
from monitor.store import Event, Identity, LogReader, LogWriter
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
    """A LogWriter stand-in that notes how each record was asked to be committed."""

    path = Path("log")

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def append(self, payload: Event, *, durable: bool = True) -> bool:
        self.calls.append((payload.category, durable))
        return True

    def close(self) -> None:
        pass


def test_the_sink_fsyncs_episodes_by_default_and_alerts_always() -> None:
    for fsync_episodes, episode_durable in ((True, True), (False, False)):
        writer = _Recording()
        sink = EncryptedLogSink(writer, lambda: T0, fsync_episodes=fsync_episodes)
        sink.write_event("episode", "afib", T0, None, {})
        sink.write_event("alert", "vf", T0, None, {})
        sink.write_event("device", "disconnected", T0, None, {})
        assert writer.calls == [
            ("episode", episode_durable),
            ("alert", True),
            ("device", True),
        ]
