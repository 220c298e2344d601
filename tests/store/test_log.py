"""Writing and reading the log, and every way it can be damaged or misused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.store import (
    FormatVersionError,
    Identity,
    LogLockedError,
    LogReader,
    LogWriter,
    NotALogError,
    TamperError,
    WrongIdentityError,
    purge_before,
    share_segments,
)
from monitor.store.crypto import HEADER_SIZE, RECORD_PREFIX, TAG_SIZE
from monitor.store.reader import overlaps
from monitor.store.records import Payload, payload_time_range
from tests.store.conftest import T0, ecg_block, sample_payloads, write_log


def _payloads(path: Path, identity: Identity) -> list[object]:
    with LogReader(path) as reader:
        return [r.payload for r in reader.records(identity) if r.payload is not None]


def test_round_trip_across_segments_and_restarts(
    log_path: Path, patient: Identity, clinician: Identity
) -> None:
    payloads = sample_payloads(30)
    write_log(log_path, [patient, clinician], payloads[:40], rotate_every=15)
    write_log(log_path, [patient, clinician], payloads[40:])  # a restart: new segment
    assert _payloads(log_path, patient) == payloads
    assert _payloads(log_path, clinician) == payloads
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
    assert report.ok, report.render()
    assert report.segments == 4 and report.closed_segments == 4
    assert report.counts["ecg"] == 30 and report.counts["beats"] == 30
    assert report.start_ns == T0 and not report.gaps
    with LogReader(log_path) as reader:
        keyless = reader.verify()
    assert keyless.ok and keyless.records == report.records


def test_time_range_query(log_path: Path, patient: Identity) -> None:
    write_log(log_path, [patient], [ecg_block(i) for i in range(10)])
    with LogReader(log_path) as reader:
        got = [
            r.payload
            for r in reader.records(patient, start_ns=T0 + 25 * 10**9, end_ns=T0 + 45 * 10**9)
        ]
    assert got == [ecg_block(i) for i in (2, 3, 4)]


def test_gap_is_reported(log_path: Path, patient: Identity) -> None:
    write_log(log_path, [patient], [ecg_block(0), ecg_block(1), ecg_block(5)])
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
    assert report.ok and len(report.gaps) == 1
    assert report.gaps[0][1] - report.gaps[0][0] == 30 * 10**9
    assert "ECG gaps > 2 s: 1" in report.render()


def test_wrong_identity(log_path: Path, patient: Identity, clinician: Identity) -> None:
    write_log(log_path, [patient], sample_payloads(3))
    with LogReader(log_path) as reader, pytest.raises(WrongIdentityError, match="not a recipient"):
        reader.verify(clinician)
    with LogReader(log_path) as reader, pytest.raises(WrongIdentityError):
        list(reader.records(clinician))


def test_not_a_log(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database\n" * 10)
    with pytest.raises(NotALogError, match="not an ecgmon log"):
        LogReader(text)
    with pytest.raises(NotALogError):
        LogWriter(text, [Identity.generate().recipient])
    assert text.read_text().startswith("hello")  # nothing overwritten
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    with pytest.raises(NotALogError, match="not an ecgmon log"):
        LogReader(other)
    with pytest.raises(NotALogError):
        LogReader(tmp_path)


def test_newer_format_version(log_path: Path, patient: Identity) -> None:
    write_log(log_path, [patient], sample_payloads(1))
    conn = sqlite3.connect(log_path)
    conn.execute("UPDATE meta SET value=3 WHERE name='version'")
    conn.commit()
    conn.close()
    with pytest.raises(FormatVersionError, match="version 3, newer"):
        LogReader(log_path)
    with pytest.raises(FormatVersionError):
        LogWriter(log_path, [patient.recipient])


def test_two_writers_at_once(log_path: Path, patient: Identity) -> None:
    with LogWriter(log_path, [patient.recipient]) as first:
        first.append(ecg_block(0))
        with pytest.raises(LogLockedError, match="already being written"):
            LogWriter(log_path, [patient.recipient])
        first.append(ecg_block(1))
    assert _payloads(log_path, patient) == [ecg_block(0), ecg_block(1)]
    with LogWriter(log_path, [patient.recipient]) as again:  # free once the first closed
        again.append(ecg_block(2))


def test_reader_while_writer_writes(log_path: Path, patient: Identity) -> None:
    with LogWriter(log_path, [patient.recipient]) as writer:
        for i in range(5):
            writer.append(ecg_block(i))
            assert _payloads(log_path, patient) == [ecg_block(k) for k in range(i + 1)]
        with LogReader(log_path) as reader:
            report = reader.verify(patient)
        assert report.ok and "no close record" in report.render()


# --- tampering ------------------------------------------------------------------------


def _bodies(path: Path) -> list[tuple[int, bytes]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, body FROM records ORDER BY id").fetchall()
    conn.close()
    return rows


def _exec(path: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def _flip(path: Path, rowid: int, byte: int, bit: int = 0) -> None:
    body = dict(_bodies(path))[rowid]
    changed = bytearray(body)
    changed[byte] ^= 1 << bit
    _exec(path, "UPDATE records SET body=? WHERE id=?", bytes(changed), rowid)


def _first_problem(path: Path, identity: Identity | None) -> str:
    with LogReader(path) as reader:
        report = reader.verify(identity)
    assert not report.ok, "damage was not detected"
    return str(report.problems[0])


@pytest.fixture
def written(log_path: Path, patient: Identity) -> Path:
    write_log(log_path, [patient], sample_payloads(8))
    return log_path


REGIONS = {
    "version": 0,
    "segment number": 4,
    "sequence number": 8,
    "ciphertext start": RECORD_PREFIX.size,
    "ciphertext middle": RECORD_PREFIX.size + 40,
    "tag": -1,
}


@pytest.mark.parametrize("region", list(REGIONS))
def test_one_flipped_bit_in_each_region_of_a_record(
    written: Path, patient: Identity, region: str
) -> None:
    rows = _bodies(written)
    rowid, body = rows[5]
    offset = REGIONS[region] % len(body)
    _flip(written, rowid, offset)
    message = _first_problem(written, patient)
    assert "record 6 " in message or "record 7 " in message, message
    if region in ("version", "segment number", "sequence number"):
        # structure alone already shows it, without any key
        assert "record 6 " in _first_problem(written, None)
    with LogReader(written) as reader, pytest.raises(TamperError, match="record"):
        list(reader.records(patient))


def test_flipped_bit_in_segment_header_and_stanza(written: Path, patient: Identity) -> None:
    conn = sqlite3.connect(written)
    header = bytearray(conn.execute("SELECT header FROM segments WHERE seg=0").fetchone()[0])
    conn.close()
    assert len(header) == HEADER_SIZE
    header[50] ^= 1  # inside the link to the previous segment
    _exec(written, "UPDATE segments SET header=? WHERE seg=0", bytes(header))
    assert "segment 0: header fails authentication" in _first_problem(written, patient)
    header[50] ^= 1  # inside the link to the previous segment
    _exec(written, "UPDATE segments SET header=? WHERE seg=0", bytes(header))
    conn = sqlite3.connect(written)
    stanza = bytearray(conn.execute("SELECT body FROM stanzas").fetchone()[0])
    conn.close()
    stanza[40] ^= 4
    _exec(written, "UPDATE stanzas SET body=?", bytes(stanza))
    with LogReader(written) as reader, pytest.raises(WrongIdentityError):
        reader.verify(patient)


def test_deleted_record(written: Path, patient: Identity) -> None:
    rowid = _bodies(written)[4][0]
    _exec(written, "DELETE FROM records WHERE id=?", rowid)
    assert "record 5 (segment 0, #5)" in _first_problem(written, None)
    assert "missing" in _first_problem(written, None)
    assert "record 5 (segment 0, #5)" in _first_problem(written, patient)


def test_duplicated_record(written: Path, patient: Identity) -> None:
    rows = _bodies(written)
    # Re-insert a copy of record 3 right after it, shifting the rest down by one.
    _exec(written, "DELETE FROM records")
    for _, body in [*rows[:3], rows[2], *rows[3:]]:
        _exec(written, "INSERT INTO records(body) VALUES (?)", body)
    message = _first_problem(written, patient)
    assert message.startswith("record 4 (segment 0, #2)") and "duplicated" in message


def test_reordered_records(written: Path, patient: Identity) -> None:
    rows = _bodies(written)
    (a, body_a), (b, body_b) = rows[3], rows[4]
    _exec(written, "UPDATE records SET body=? WHERE id=?", body_b, a)
    _exec(written, "UPDATE records SET body=? WHERE id=?", body_a, b)
    assert _first_problem(written, patient).startswith("record 4 (segment 0, #4)")


def test_renumbered_deletion_caught_with_key(written: Path, patient: Identity) -> None:
    """Deleting a record and rewriting the following sequence numbers fools the keyless
    check, never the authenticated chain."""
    rows = _bodies(written)
    _exec(written, "DELETE FROM records WHERE id=?", rows[2][0])
    for rowid, body in rows[3:]:
        seq = int.from_bytes(body[5:9], "big") - 1
        _exec(
            written,
            "UPDATE records SET body=? WHERE id=?",
            body[:5] + seq.to_bytes(4, "big") + body[9:],
            rowid,
        )
    with LogReader(written) as reader:
        assert reader.verify().ok  # structure alone cannot see it
    assert "record 3 (segment 0, #2)" in _first_problem(written, patient)


def test_removed_tail_of_closed_segment_shows_in_link(log_path: Path, patient: Identity) -> None:
    write_log(log_path, [patient], sample_payloads(4))
    write_log(log_path, [patient], sample_payloads(2))
    rows = _bodies(log_path)
    seg0 = [r for r in rows if int.from_bytes(r[1][1:5], "big") == 0]
    _exec(log_path, "DELETE FROM records WHERE id=?", seg0[-1][0])  # its close record
    message = _first_problem(log_path, None)
    assert message.startswith("segment 1: link to segment 0 does not match"), message


def test_truncated_record(written: Path, patient: Identity) -> None:
    rowid, body = _bodies(written)[2]
    _exec(written, "UPDATE records SET body=? WHERE id=?", body[: len(body) - 7], rowid)
    assert "record 3 " in _first_problem(written, None)


# --- sharing and shredding ---------------------------------------------------------------


def test_share_then_purge(log_path: Path, patient: Identity, clinician: Identity) -> None:
    payloads = [ecg_block(i) for i in range(12)]
    write_log(log_path, [patient], payloads, rotate_every=4)
    with LogReader(log_path) as reader, pytest.raises(WrongIdentityError):
        reader.verify(clinician)
    result = share_segments(log_path, patient, clinician.recipient)
    assert result.shared == 3 and result.not_readable == 0
    assert _payloads(log_path, clinician) == payloads
    # Everything before block 8 lies in segments 0 and 1; segment 2 is the newest.
    shredded = purge_before(log_path, patient, ecg_block(8).t0_ns)
    assert shredded == [0, 1]
    assert _payloads(log_path, patient) == payloads[8:]
    assert _payloads(log_path, clinician) == payloads[8:]
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
    assert report.ok and report.shredded == [0, 1]
    assert "shredded (keys purged): 0-1" in report.render()
    conn = sqlite3.connect(log_path)
    assert conn.execute("SELECT count(*) FROM stanzas WHERE seg<2").fetchone()[0] == 0
    conn.close()
    with pytest.raises(WrongIdentityError):
        share_segments(log_path, Identity.generate(), clinician.recipient)


def test_tag_size_is_sixteen() -> None:
    assert TAG_SIZE == 16


def test_default_writer_uses_configured_recipients(patient: Identity) -> None:
    from monitor.store import StoreError, add_recipient, open_reader, open_writer, paths

    with pytest.raises(StoreError, match="keys init"):
        open_writer()
    add_recipient(paths.recipients_path(), patient.recipient)
    with open_writer() as writer:
        writer.append(ecg_block(0))
        assert writer.status.pending == 0 and writer.status.last_error is None
    assert paths.default_log_path().exists()
    with open_reader() as reader:
        assert [r.payload for r in reader.records(patient)] == [ecg_block(0)]


def test_removed_segment_and_empty_segment(log_path: Path, patient: Identity) -> None:
    for _ in range(3):
        write_log(log_path, [patient], sample_payloads(2))
    LogWriter(log_path, [patient.recipient]).close()  # a segment with only a close record
    with LogReader(log_path) as reader:
        assert reader.verify(patient).ok
    bodies = _bodies(log_path)
    for rowid, body in bodies:
        if int.from_bytes(body[1:5], "big") == 1:
            _exec(log_path, "DELETE FROM records WHERE id=?", rowid)
    _exec(log_path, "DELETE FROM segments WHERE seg=1")
    assert _first_problem(log_path, None) == "segment 2: segment 1 is missing"
    assert _first_problem(log_path, patient) == "segment 2: segment 1 is missing"


def test_truncated_database_file_is_one_clear_error(log_path: Path, patient: Identity) -> None:
    write_log(log_path, [patient], sample_payloads(40))
    content = log_path.read_bytes()
    assert len(content) > 3 * 16384
    log_path.write_bytes(content[: len(content) // 2])
    with (
        pytest.raises((TamperError, NotALogError), match=r"damaged|not an ecgmon log"),
        LogReader(log_path) as reader,
    ):
        reader.verify(patient)


def _overlapping(payloads: list[Payload], start: int, end: int) -> list[Payload]:
    return [p for p in payloads if overlaps(payload_time_range(p), start, end)]


def test_range_read_touches_only_the_segments_around_it(log_path: Path, patient: Identity) -> None:
    payloads = sample_payloads(60)
    write_log(log_path, [patient], payloads, rotate_every=10)  # ~15 segments
    start, end = T0 + 300 * 10**9, T0 + 360 * 10**9
    with LogReader(log_path) as reader:
        got = [r.payload for r in reader.records(patient, start_ns=start, end_ns=end)]
    assert got == _overlapping(payloads, start, end) and len(got) > 10
    # Damage the first segment: a full read fails there, the range read never looks.
    _flip(log_path, _bodies(log_path)[1][0], 30)
    with LogReader(log_path) as reader:
        assert [r.payload for r in reader.records(patient, start_ns=start, end_ns=end)] == got
        with pytest.raises(TamperError, match=r"record 2 \(segment 0, #1\)"):
            list(reader.records(patient))
    # Damage inside the range: reported with its position in the whole log.
    rows = _bodies(log_path)
    target = next(k for k, (_, body) in enumerate(rows) if int.from_bytes(body[1:5], "big") == 8)
    _flip(log_path, rows[target + 2][0], 30)
    with LogReader(log_path) as reader, pytest.raises(TamperError, match=f"record {target + 3} "):
        list(reader.records(patient, start_ns=start, end_ns=end))


def test_range_read_after_purge_and_open_ended(log_path: Path, patient: Identity) -> None:
    payloads = [ecg_block(i) for i in range(40)]
    write_log(log_path, [patient], payloads, rotate_every=5)
    purge_before(log_path, patient, ecg_block(12).t0_ns)
    with LogReader(log_path) as reader:
        tail = [r.payload for r in reader.records(patient, start_ns=ecg_block(30).t0_ns)]
        head = [r.payload for r in reader.records(patient, end_ns=ecg_block(17).t0_ns)]
    assert tail == payloads[30:]
    assert head == payloads[10:17]


def test_recipient_changes_apply_from_the_next_segment(
    patient: Identity, clinician: Identity
) -> None:
    from monitor.store import add_recipient, open_writer, paths, remove_recipient

    add_recipient(paths.recipients_path(), patient.recipient)
    with open_writer() as writer:
        writer.append(ecg_block(0))
        add_recipient(paths.recipients_path(), clinician.recipient)
        writer.rotate()
        writer.append(ecg_block(1))
        remove_recipient(paths.recipients_path(), "patient")
        writer.rotate()
        writer.append(ecg_block(2))
    with LogReader(paths.default_log_path()) as reader:
        assert [r.payload for r in reader.records(patient)] == [ecg_block(0), ecg_block(1)]
        assert [r.payload for r in reader.records(clinician)] == [ecg_block(1), ecg_block(2)]
        report = reader.verify(clinician)
    assert report.ok and report.unreadable == [0]


def test_ecg_block_from_float_microvolts() -> None:
    import numpy as np

    from monitor.frame import EcgFrame
    from monitor.store import EcgBlock

    frame = EcgFrame(T0, 130.0, np.array([0.4, -1.6, 250.2]))
    block = EcgBlock.from_uv(frame.t0_ns, frame.fs, frame.samples_uv)
    assert block.samples_uv.dtype == np.int16 and list(block.samples_uv) == [0, -2, 250]
    wide = EcgBlock.from_uv(T0, 130.0, np.array([40000.0, -1.0]))
    assert wide.samples_uv.dtype == np.int32 and list(wide.samples_uv) == [40000, -1]
    assert wide.end_ns == T0 + round(2 * 1e9 / 130)
    with pytest.raises(ValueError, match="finite"):
        EcgBlock.from_uv(T0, 130.0, np.array([np.nan]))


def test_records_of_chosen_types_only(log_path: Path, patient: Identity) -> None:
    from monitor.store import Event, RecordType

    payloads = sample_payloads(30)
    write_log(log_path, [patient], payloads, rotate_every=20)
    events = [p for p in payloads if isinstance(p, Event)]
    with LogReader(log_path) as reader:
        got = [
            r.payload
            for r in reader.records(patient, types=[RecordType.EPISODE, RecordType.DEVICE])
        ]
        assert got == events and len(events) > 5
    # Types are not a way around the chain: damage to an ECG record still stops it.
    _flip(log_path, _bodies(log_path)[0][0], 40)
    with LogReader(log_path) as reader, pytest.raises(TamperError, match="record 1 "):
        list(reader.records(patient, types=[RecordType.EPISODE]))
