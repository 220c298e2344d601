"""Changing who can read existing data: sharing segment keys, and crypto-shredding.

Both touch only the stanzas table (wrapped keys), never a record: sharing adds a
stanza for a new recipient; purging deletes every stanza of a segment, after which
no key in the world opens it. SQLite's secure_delete overwrites the deleted
stanzas in the database file, and a WAL checkpoint (TRUNCATE) drops older copies
from the WAL.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from monitor.store import crypto
from monitor.store.crypto import SegmentHeader
from monitor.store.db import open_for_write
from monitor.store.errors import StoreError, WrongIdentityError
from monitor.store.keys import Identity, Recipient
from monitor.store.reader import LogReader
from monitor.store.records import payload_time_range


@dataclass(frozen=True)
class ShareResult:
    shared: int
    not_readable: int


def _maintenance_conn(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise StoreError(f"log {path} does not exist")
    return open_for_write(path)


def share_segments(path: Path, identity: Identity, recipient: Recipient) -> ShareResult:
    """Wrap every segment key `identity` can open to `recipient` as well (no data re-encrypted)."""
    conn = _maintenance_conn(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        headers = conn.execute("SELECT seg, header FROM segments ORDER BY seg").fetchall()
        shared = missing = 0
        for seg_no, header_bytes in headers:
            header = SegmentHeader.parse(header_bytes)
            file_key = None
            for (stanza,) in conn.execute("SELECT body FROM stanzas WHERE seg=?", (seg_no,)):
                file_key = crypto.unwrap_file_key(stanza, identity, header.segment_id)
                if file_key is not None:
                    break
            if file_key is None:
                missing += 1
                continue
            stanza = crypto.wrap_file_key(file_key, recipient, header.segment_id,
                                          os.urandom(32))
            conn.execute("INSERT INTO stanzas(seg, body) VALUES (?, ?)", (seg_no, stanza))
            shared += 1
        if headers and shared == 0:
            conn.execute("ROLLBACK")
            raise WrongIdentityError(f"this identity opens no segment of log {path}: "
                                     "nothing to share")
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ShareResult(shared, missing)


def purge_before(path: Path, identity: Identity, before_ns: int) -> list[int]:
    """Shred every segment whose data all lies before `before_ns`; the newest is never shredded.

    The identity is needed to learn each segment's time span (nothing plaintext says it).
    Returns the shredded segment numbers.
    """
    last_end: dict[int, int] = {}
    with LogReader(path) as reader:
        segs = reader.segment_numbers()
        for item in reader.records(identity):
            if item.payload is not None:
                end = payload_time_range(item.payload)[1]
                last_end[item.position.seg_no] = max(end, last_end.get(item.position.seg_no, end))
    newest = max(segs, default=-1)
    victims = [s for s, end in sorted(last_end.items()) if end <= before_ns and s != newest]
    if not victims:
        return []
    conn = _maintenance_conn(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM stanzas WHERE seg=?", [(s,) for s in victims])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return victims
