"""The SQLite container of the log (same schema in v1 and v2): opening, format checks,
writer lock.

The database holds opaque blobs only. Its plaintext is limited to structure: the
format name and version, segment headers (random ids, chain links), wrapped keys and
record bodies whose prefix names their segment and sequence number.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from monitor.store.crypto import FORMAT_VERSION
from monitor.store.errors import FormatVersionError, LogLockedError, NotALogError, StoreError

LOG_FORMAT_NAME = b"ecgmon-log"
SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS segments(seg INTEGER PRIMARY KEY, header BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS stanzas(id INTEGER PRIMARY KEY, seg INTEGER NOT NULL,
                                   body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS stanzas_seg ON stanzas(seg);
CREATE TABLE IF NOT EXISTS records(id INTEGER PRIMARY KEY, body BLOB NOT NULL);
"""
BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 16384


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Overwrite deleted content (purged key stanzas) instead of leaving it in free pages,
    # and never spill to temporary files on disk.
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA temp_store=MEMORY")


def _check_magic(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except IsADirectoryError:
        raise NotALogError(f"{path} is a directory, not an ecgmon log") from None
    except OSError as exc:
        raise StoreError(f"cannot open log {path}: {exc.strerror}") from None
    if head and head != SQLITE_MAGIC:
        raise NotALogError(f"{path} is not an ecgmon log (not an SQLite database)")


def check_format(conn: sqlite3.Connection, path: Path) -> int:
    """Refuse a database that is not an ecgmon log, or one from a newer version; return
    its version."""
    try:
        rows = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        raise NotALogError(f"{path} is not an ecgmon log (no ecgmon metadata)") from None
    if rows.get("format") != LOG_FORMAT_NAME:
        raise NotALogError(f"{path} is not an ecgmon log (wrong format name)")
    version = rows.get("version")
    if not isinstance(version, int):
        raise NotALogError(f"{path} is not an ecgmon log (no format version)")
    if version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{path} is log format version {version}, newer than this ecgmon supports "
            f"({FORMAT_VERSION}): upgrade ecgmon to read it"
        )
    return version


def open_for_read(path: Path) -> sqlite3.Connection:
    """A connection that never creates or changes the log (works while a writer writes)."""
    if not path.exists():
        raise StoreError(f"log {path} does not exist")
    _check_magic(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        _configure(conn)
        check_format(conn, path)
    except sqlite3.DatabaseError as exc:
        raise NotALogError(f"{path} cannot be read as an ecgmon log ({exc})") from None
    return conn


def open_for_write(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) in WAL mode with durable commits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _check_magic(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        _configure(conn)
        existing = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[
            0
        ]
        stored_version = check_format(conn, path) if existing else FORMAT_VERSION
        if not existing:
            # 1.3 kB records waste a quarter of 4 kB pages; 16 kB pages waste ~5 %.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode")
        conn.execute("PRAGMA synchronous=FULL")
        if stored_version < FORMAT_VERSION:
            # An older log: its segments stay as written (readers decode each segment by
            # its own version); new segments are written in this version, so readers
            # older than it must refuse the whole log.
            conn.execute("UPDATE meta SET value=? WHERE name='version'", (FORMAT_VERSION,))
        if not existing:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in SCHEMA.strip().split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(
                "INSERT INTO meta VALUES ('format', ?), ('version', ?)",
                (LOG_FORMAT_NAME, FORMAT_VERSION),
            )
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise NotALogError(f"{path} cannot be opened as an ecgmon log ({exc})") from None
    return conn


class WriterLock:
    """An exclusive advisory lock next to the log; the kernel drops it if the writer dies."""

    def __init__(self, log_path: Path) -> None:
        self.path = log_path.with_name(log_path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise LogLockedError(
                f"log {log_path} is already being written by another ecgmon process"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
