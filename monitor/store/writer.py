"""The log writer: needs public keys only, seals records into a chain, survives crashes.

A segment key is drawn at start-up and at every rotation (at least hourly), wrapped to
every recipient and then kept in memory only. Each `append` commits one SQLite
transaction before it returns, so an acknowledged record survives a crash of the
process. When the disk is full the sealed records are kept in memory, the failure is
reported through `status`, and they are written, in order and byte for byte the same,
as soon as a later call finds space again (re-sending identical bytes never reuses a
nonce with different plaintext).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.store import crypto
from monitor.store.crypto import (
    FILE_KEY_SIZE,
    RECORD_PREFIX,
    SEGMENT_ID_SIZE,
    TAG_SIZE,
    SegmentHeader,
    SegmentKeys,
)
from monitor.store.db import WriterLock, open_for_write
from monitor.store.errors import StorageFullError, StoreError, TamperError
from monitor.store.keys import Recipient
from monitor.store.records import (
    EcgBlock,
    Payload,
    RecordType,
    close_body,
    encode_payload,
    frame,
    record_type_of,
    split_ecg,
)

log = logging.getLogger(__name__)

DEFAULT_ROTATE_S = 3600.0
DEFAULT_MAX_PENDING = 50_000
"""Records held in memory while the disk is full (about two days of 10 s blocks + beats)."""


@dataclass(frozen=True)
class WriterStatus:
    """What the daemon shows: where the writer is, and whether records wait in memory."""

    segment: int
    records_in_segment: int
    pending: int
    last_error: str | None


@dataclass(frozen=True)
class _PendingSegment:
    seg_no: int
    header: bytes
    stanzas: list[bytes]


@dataclass
class _Segment:
    seg_no: int
    segment_id: bytes
    keys: SegmentKeys
    seq: int
    prev_tag: bytes
    started: float


def _storage_failure(exc: BaseException) -> bool:
    """Errors that mean 'no space now' (ENOSPC, EFBIG from a size limit): retry later."""
    if isinstance(exc, OSError):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "full" in text or "disk i/o" in text or "unable to open" in text
    )


class LogWriter:
    """Appends records to the log at `path`, encrypted to `recipients`.

    random_bytes and compress exist for known-answer tests only (fixed keys, nonces
    and uncompressed bodies); production code leaves them alone.
    """

    def __init__(
        self,
        path: Path,
        recipients: Sequence[Recipient],
        *,
        rotate_after_s: float = DEFAULT_ROTATE_S,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
        random_bytes: Callable[[int], bytes] = os.urandom,
        compress: bool = True,
        reload_recipients: Callable[[], Sequence[Recipient]] | None = None,
    ) -> None:
        if not recipients:
            raise StoreError("no recipients: run 'ecgmon keys init' first")
        self.path = Path(path)
        self.recipients = tuple(recipients)
        self.rotate_after_s = rotate_after_s
        self.max_pending = max_pending
        self._clock = clock
        self._random = random_bytes
        self._compress = compress
        self._reload = reload_recipients
        self._pending: list[_PendingSegment | bytes] = []
        self._durable = True  # open_for_write sets synchronous=FULL
        self._last_error: str | None = None
        self._lock = WriterLock(self.path)
        try:
            self._conn = open_for_write(self.path)
            prev = self._tail()
        except BaseException:
            self._lock.release()
            raise
        self._segment = self._new_segment(*prev)
        self.flush()

    # --- public API -------------------------------------------------------------------

    def append(self, payload: Payload, *, durable: bool = True) -> bool:
        """Seal and store one record; True when it (and all before it) are on disk.

        durable=False commits without waiting for the disk (no fsync): the record
        survives a crash of the process at once, and a power loss from the next
        durable commit on (which syncs the log, this record included)."""
        return self.append_many((payload,), durable=durable)

    def append_many(self, payloads: Iterable[Payload], *, durable: bool = True) -> bool:
        """Seal several records and store them in one transaction (see `append`)."""
        if self._clock() - self._segment.started >= self.rotate_after_s:
            self._rotate()
        for payload in payloads:
            pieces = split_ecg(payload) if isinstance(payload, EcgBlock) else (payload,)
            for piece in pieces:
                self._seal(record_type_of(piece), encode_payload(piece))
        return self.flush(durable=durable)

    def rotate(self) -> bool:
        """Close the current segment and start one with a fresh key."""
        self._rotate()
        return self.flush()

    def flush(self, *, durable: bool = True) -> bool:
        """Write what waits in memory; False (and status.last_error) if there is no space.

        durable: commit with `synchronous=FULL` (an fsync of the WAL: survives a power
        loss) or `NORMAL` (survives a crash of the process; on disk with the next
        durable commit or checkpoint)."""
        if not self._pending:
            return True
        try:
            if durable != self._durable:
                self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            self._conn.execute("BEGIN IMMEDIATE")
            bodies: list[tuple[bytes]] = []
            for item in self._pending:
                if isinstance(item, _PendingSegment):
                    self._insert_records(bodies)
                    self._conn.execute(
                        "INSERT INTO segments VALUES (?, ?)", (item.seg_no, item.header)
                    )
                    self._conn.executemany(
                        "INSERT INTO stanzas(seg, body) VALUES (?, ?)",
                        [(item.seg_no, s) for s in item.stanzas],
                    )
                else:
                    bodies.append((item,))
            self._insert_records(bodies)
            self._conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._rollback()
            if not _storage_failure(exc):
                raise StoreError(f"cannot write log {self.path}: {exc}") from None
            if self._last_error is None:
                log.warning("log %s: cannot write (%s); holding records in memory", self.path, exc)
            self._last_error = f"cannot write the log (disk full?): {exc}"
            if len(self._pending) > self.max_pending:
                raise StorageFullError(
                    f"log {self.path}: disk full and {len(self._pending)} records waiting; "
                    "free space so they can be written"
                ) from None
            return False
        if self._last_error is not None:
            log.warning(
                "log %s: writing again, %d held records stored", self.path, len(self._pending)
            )
        self._pending.clear()
        self._last_error = None
        return True

    @property
    def status(self) -> WriterStatus:
        return WriterStatus(
            self._segment.seg_no,
            self._segment.seq,
            sum(isinstance(i, bytes) for i in self._pending),
            self._last_error,
        )

    def close(self) -> None:
        """End the segment with a close record and release the log."""
        if self._conn is None:
            return
        try:
            self._seal(RecordType.CLOSE, close_body(self._segment.seq))
            if not self.flush():
                raise StorageFullError(
                    f"log {self.path}: disk full, {self.status.pending} records could not be "
                    "written"
                )
        finally:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
            self._lock.release()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------

    def _insert_records(self, bodies: list[tuple[bytes]]) -> None:
        """One statement for a run of record bodies (in order), then forget them."""
        if bodies:
            self._conn.executemany("INSERT INTO records(body) VALUES (?)", bodies)
            bodies.clear()

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def _tail(self) -> tuple[int, bytes, int, bytes]:
        """(next seg_no, previous segment id, its record count, its chain tag) from disk."""
        row = self._conn.execute(
            "SELECT seg, header FROM segments ORDER BY seg DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, bytes(SEGMENT_ID_SIZE), 0, bytes(TAG_SIZE)
        seg_no, header_bytes = row
        try:
            header = SegmentHeader.parse(header_bytes)
        except ValueError as exc:
            raise TamperError(f"log {self.path}: last segment header is damaged ({exc})") from None
        last = self._conn.execute("SELECT body FROM records ORDER BY id DESC LIMIT 1").fetchone()
        if last is not None and len(last[0]) >= RECORD_PREFIX.size + TAG_SIZE:
            _, rec_seg, rec_seq = RECORD_PREFIX.unpack_from(last[0])
            if rec_seg == seg_no:
                return seg_no + 1, header.segment_id, rec_seq + 1, last[0][-TAG_SIZE:]
            if rec_seg > seg_no:
                raise TamperError(
                    f"log {self.path}: last record names a segment that does "
                    "not exist; run 'ecgmon log verify'"
                )
        return seg_no + 1, header.segment_id, 0, header.chain_start

    def _refresh_recipients(self) -> None:
        """Pick up `ecgmon keys add-/remove-recipient` at a segment boundary."""
        if self._reload is None:
            return
        try:
            fresh = tuple(self._reload())
        except StoreError as exc:
            log.warning("log %s: keeping the current recipients (%s)", self.path, exc)
            return
        if fresh:
            self.recipients = fresh
        else:
            log.warning("log %s: the recipient list is empty; keeping the current one", self.path)

    def _new_segment(
        self, seg_no: int, prev_id: bytes, prev_count: int, prev_tag: bytes
    ) -> _Segment:
        file_key = self._random(FILE_KEY_SIZE)
        segment_id = self._random(SEGMENT_ID_SIZE)
        keys = SegmentKeys.derive(file_key, segment_id)
        unsigned = SegmentHeader(seg_no, segment_id, prev_id, prev_count, prev_tag, b"")
        header = SegmentHeader(
            seg_no,
            segment_id,
            prev_id,
            prev_count,
            prev_tag,
            crypto.header_mac(keys, unsigned.unsigned_bytes()),
        )
        stanzas = [
            crypto.wrap_file_key(file_key, r, segment_id, self._random(32)) for r in self.recipients
        ]
        del file_key
        self._pending.append(_PendingSegment(seg_no, header.to_bytes(), stanzas))
        return _Segment(seg_no, segment_id, keys, 0, header.chain_start, self._clock())

    def _rotate(self) -> None:
        seg = self._segment
        self._seal(RecordType.CLOSE, close_body(seg.seq))
        self._refresh_recipients()
        self._segment = self._new_segment(seg.seg_no + 1, seg.segment_id, seg.seq, seg.prev_tag)

    def _seal(self, rtype: RecordType, body: bytes) -> None:
        seg = self._segment
        padded = frame(rtype, body, compress=self._compress)
        sealed = crypto.seal_record(
            seg.keys, seg.seg_no, seg.segment_id, seg.seq, seg.prev_tag, padded
        )
        seg.seq += 1
        seg.prev_tag = sealed[-TAG_SIZE:]
        self._pending.append(sealed)
