"""A writer killed mid-write, and a writer that runs out of space, lose nothing acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.store import EcgBlock, Event, Identity, LogReader, LogWriter
from tests.store.conftest import ecg_block

ROOT = Path(__file__).resolve().parents[2]


def _child(mode: str, log: Path, identity: Identity) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.writer_child", mode, str(log), identity.recipient.text],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _blocks(log: Path, identity: Identity) -> list[object]:
    if not log.exists():
        return []
    with LogReader(log) as reader:
        report = reader.verify(identity)
        assert report.ok, report.render()
        return [r.payload for r in reader.records(identity) if r.payload is not None]


@pytest.mark.parametrize("mode", ["kill", "kill-nosync"])
def test_sigkill_mid_write_loses_no_acknowledged_record(
    log_path: Path, patient: Identity, mode: str
) -> None:
    """Also with durable=False commits (no fsync): a crash of the process keeps them."""
    for round_ in range(3):  # kill at a few different moments (after 20, 60, 100 acks)
        before = len(_blocks(log_path, patient))
        child = _child(mode, log_path, patient)
        assert child.stdout is not None
        acked = -1
        for line in child.stdout:
            acked = int(line.split()[1])
            if acked >= 20 + 40 * round_:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert acked >= 20, child.stderr.read() if child.stderr else ""
        blocks = _blocks(log_path, patient)  # opens, verifies intact
        assert blocks[before : before + acked + 1] == [ecg_block(i) for i in range(acked + 1)]
    with LogWriter(log_path, [patient.recipient]) as writer:  # the log still takes writes
        writer.append(ecg_block(0))
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
    assert report.ok
    assert report.render().count("ended abruptly (writer crash)") == 3


def test_sigkill_of_the_sink_loses_no_episode_whose_block_was_committed(
    log_path: Path, patient: Identity
) -> None:
    """The daemon's sink holds an episode until the next ECG block's commit
    (monitor/daemon/storage.py): once that returned, a SIGKILL loses neither."""
    child = _child("sink", log_path, patient)
    assert child.stdout is not None
    acked = -1
    for line in child.stdout:
        acked = int(line.split()[1])
        if acked >= 30:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert acked >= 30, child.stderr.read() if child.stderr else ""
    stored = _blocks(log_path, patient)  # opens, verifies intact
    episodes = [p.data["i"] for p in stored if isinstance(p, Event)]
    blocks = [p for p in stored if isinstance(p, EcgBlock)]
    assert episodes[: acked + 1] == list(range(acked + 1))
    assert blocks[: acked + 2] == [ecg_block(i) for i in range(acked + 2)]


def test_disk_full_reported_kept_and_resumed(log_path: Path, patient: Identity) -> None:
    child = _child("full", log_path, patient)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "acked 0-4"
    full = lines[1].split()
    assert full[0] == "full" and int(full[4]) >= 10 and "cannot write the log" in lines[1]
    total = int(lines[2].split()[-1])
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
        blocks = [r.payload for r in reader.records(patient) if r.payload is not None]
    assert report.ok, report.render()
    assert blocks == [ecg_block(i) for i in range(total)]


class _FullDisk:
    """Wraps the writer's SQLite connection: every INSERT fails while `full` is set."""

    def __init__(self, conn: object) -> None:
        self.conn = conn
        self.full = False

    def execute(self, sql: str, *args: object) -> object:
        import sqlite3

        if self.full and sql.startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)  # type: ignore[attr-defined]

    def executemany(self, sql: str, *args: object) -> object:
        return self.execute(sql, *args) if self.full else self.conn.executemany(sql, *args)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.conn.close()  # type: ignore[attr-defined]


def test_disk_full_across_a_segment_rotation(log_path: Path, patient: Identity) -> None:
    """Records and a whole new segment wait in memory, then land in order, chain intact."""
    now = [0.0]
    writer = LogWriter(log_path, [patient.recipient], clock=lambda: now[0], rotate_after_s=60)
    disk = _FullDisk(writer._conn)
    writer._conn = disk  # type: ignore[assignment]
    assert writer.append(ecg_block(0))
    disk.full = True
    assert not writer.append(ecg_block(1))
    now[0] = 100.0  # the next append rotates: close record + new segment, all held
    assert not writer.append(ecg_block(2))
    assert writer.status.pending == 3 and "disk full" in (writer.status.last_error or "")
    with LogReader(log_path) as reader:  # the log on disk stays consistent meanwhile
        assert reader.verify(patient).ok
        assert [r.payload for r in reader.records(patient)] == [ecg_block(0)]
    disk.full = False
    assert writer.append(ecg_block(3))
    assert writer.status.pending == 0 and writer.status.last_error is None
    writer.close()
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
        assert [r.payload for r in reader.records(patient)] == [ecg_block(i) for i in range(4)]
    assert report.ok and report.segments == 2 and report.closed_segments == 2
