"""Reading and verifying the log: structure without a key, everything with an identity.

One streaming walk over the records in storage order checks, without any key, the
record prefixes, sequence numbers and the links between segments; with an identity it
also unwraps each segment key, checks the header MAC, authenticates every record
against the chain (version, segment id, sequence number, previous tag) and decodes it.
`verify` turns the walk into a report; `records` yields the decoded payloads.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monitor.store import crypto
from monitor.store.crypto import (
    READABLE_VERSIONS,
    RECORD_PREFIX,
    TAG_SIZE,
    SegmentHeader,
    SegmentKeys,
)
from monitor.store.db import open_for_read
from monitor.store.errors import StoreError, TamperError, WrongIdentityError
from monitor.store.keys import Identity
from monitor.store.records import (
    MIN_BUCKET,
    EcgBlock,
    Payload,
    RecordType,
    bucket_size,
    close_body,
    decode_payload,
    payload_time_range,
    unframe,
)

GAP_THRESHOLD_NS = 2_000_000_000
"""A pause in the raw ECG longer than this is reported as a gap."""


def overlaps(span: tuple[int, int], start_ns: int | None, end_ns: int | None) -> bool:
    """Whether [a, b) meets [start_ns, end_ns); an instant (a == b) counts if start <= a < end."""
    a, b = span
    if end_ns is not None and a >= end_ns:
        return False
    return start_ns is None or b > start_ns or (a == b == start_ns)


@dataclass(frozen=True)
class Position:
    """Where a record is: its ordinal in storage order (1-based) and its chain address."""

    ordinal: int
    seg_no: int
    seq: int

    def __str__(self) -> str:
        return f"record {self.ordinal} (segment {self.seg_no}, #{self.seq})"


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class StoredRecord:
    position: Position
    rtype: RecordType
    payload: Payload | None


@dataclass
class _SegState:
    seg_no: int
    header: SegmentHeader | None
    keys: SegmentKeys | None
    stanzas: int
    expected_seq: int = 0
    prev_tag: bytes = b""
    closed: bool = False
    count: int = 0


@dataclass
class VerifyReport:
    """What `ecgmon log verify` prints."""

    path: Path
    keyed: bool
    segments: int = 0
    records: int = 0
    closed_segments: int = 0
    open_tail: list[str] = field(default_factory=list)
    shredded: list[int] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def readable_segments(self) -> int:
        return self.segments - len(self.shredded) - len(self.unreadable)

    def render(self, max_items: int = 5) -> str:
        from monitor.store.timefmt import format_ns

        lines = [
            f"log {self.path}: {'OK' if self.ok else 'DAMAGED'} "
            f"({'full check with identity' if self.keyed else 'structure only, no key'})",
            f"  segments: {self.segments}"
            + (f" ({self.closed_segments} closed cleanly)" if self.keyed else ""),
            f"  records:  {self.records}",
        ]
        if self.counts:
            by_type = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
            lines.append("  by type:  " + by_type)
        if self.shredded:
            lines.append(f"  shredded (keys purged): {_ranges(self.shredded)}")
        if self.unreadable:
            lines.append(f"  not readable with this identity: segments {_ranges(self.unreadable)}")
        if self.keyed and self.start_ns is not None and self.end_ns is not None:
            lines.append(f"  time span: {format_ns(self.start_ns)} .. {format_ns(self.end_ns)}")
            total = sum(b - a for a, b in self.gaps) / 1e9
            lines.append(
                f"  ECG gaps > {GAP_THRESHOLD_NS / 1e9:.0f} s: {len(self.gaps)}"
                + (f" ({total:.0f} s in all)" if self.gaps else "")
            )
            for a, b in sorted(self.gaps, key=lambda g: g[0] - g[1])[:max_items]:
                lines.append(f"    {format_ns(a)} .. {format_ns(b)} ({(b - a) / 1e9:.0f} s)")
        for note in self.open_tail[:max_items]:
            lines.append(f"  note: {note}")
        if self.problems:
            lines.append(f"  problems: {len(self.problems)}; first bad: {self.problems[0]}")
            for problem in self.problems[1:max_items]:
                lines.append(f"    {problem}")
        return "\n".join(lines)


def _ranges(values: list[int]) -> str:
    out: list[str] = []
    for v in values:
        if out and out[-1].split("-")[-1] == str(v - 1):
            out[-1] = out[-1].split("-")[0] + f"-{v}"
        else:
            out.append(str(v))
    return ", ".join(out)


class LogReader:
    """Read access to a log; opening never changes it and works while a writer writes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection = open_for_read(self.path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def copy_to(self, destination: Path) -> None:
        """A consistent copy of the log, including what is still in the WAL (for handing
        the log to a clinician while the daemon keeps writing). Never overwrites."""
        destination = Path(destination)
        if destination.exists():
            raise StoreError(f"{destination} already exists; refusing to overwrite it")
        destination.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(destination)
        try:
            self._conn.backup(target)
        except sqlite3.Error as exc:
            target.close()
            destination.unlink(missing_ok=True)
            raise StoreError(f"cannot copy log {self.path}: {exc}") from None
        target.close()

    def record_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM records").fetchone()[0])

    def segment_numbers(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT seg FROM segments ORDER BY seg")]

    # --- verification -----------------------------------------------------------------

    def verify(
        self, identity: Identity | None = None, progress: Callable[[float], None] | None = None
    ) -> VerifyReport:
        report = VerifyReport(self.path, keyed=identity is not None)
        ecg_spans: list[tuple[int, int]] = []
        for item in self._walk(identity, report, progress):
            if isinstance(item, Problem):
                report.problems.append(item)
                continue
            name = item.rtype.name.lower()
            report.counts[name] = report.counts.get(name, 0) + 1
            if item.payload is not None:
                start, end = payload_time_range(item.payload)
                report.start_ns = start if report.start_ns is None else min(report.start_ns, start)
                report.end_ns = end if report.end_ns is None else max(report.end_ns, end)
                if isinstance(item.payload, EcgBlock):
                    ecg_spans.append((start, end))
        ecg_spans.sort()
        for (_, prev_end), (start, _) in itertools.pairwise(ecg_spans):
            if start - prev_end > GAP_THRESHOLD_NS:
                report.gaps.append((prev_end, start))
        if (
            identity is not None
            and report.segments
            and report.readable_segments == 0
            and len(report.unreadable) > 0
        ):
            raise WrongIdentityError(
                f"this identity is not a recipient of log {self.path} "
                f"(none of its {report.segments} segment keys opens with it)"
            )
        return report

    def records(
        self,
        identity: Identity,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        progress: Callable[[float], None] | None = None,
        types: Iterable[RecordType] | None = None,
    ) -> Iterator[StoredRecord]:
        """Decoded records overlapping [start_ns, end_ns), in order; TamperError on damage.

        With a range, only the segments around it are read and authenticated (each
        segment's chain stands on its own), so reviewing an hour of a month-long log is
        quick; `verify` checks everything. `types` limits what is decoded and returned
        (e.g. episodes and alerts for a review list; every record is still
        authenticated). Segments the identity cannot open (shared later, or shredded)
        are skipped; if it opens none at all, WrongIdentityError.
        """
        wanted = None if types is None else frozenset(int(t) for t in types) | {RecordType.CLOSE}
        report = VerifyReport(self.path, keyed=True)
        rows = None
        if start_ns is not None or end_ns is not None:
            rows = self._rows_around(identity, start_ns, end_ns)
        opened = False
        for item in self._walk(identity, report, progress, rows, wanted):
            if isinstance(item, Problem):
                raise TamperError(f"log {self.path}: {item}")
            opened = True
            if item.payload is None:
                continue
            if overlaps(payload_time_range(item.payload), start_ns, end_ns):
                yield item
        if not opened and report.unreadable:
            raise WrongIdentityError(f"this identity is not a recipient of log {self.path}")

    def _rows_around(
        self, identity: Identity, start_ns: int | None, end_ns: int | None
    ) -> tuple[int, int | None] | None:
        """Row-id range of the segments around [start_ns, end_ns), or None to read all.

        A segment's start is the time of its first record; the range runs from one
        segment before the last segment starting at or before start_ns to one segment
        after the first starting at or after end_ns (margins for beats and events stored
        a little after the time they describe). Anything unexpected means: read all.
        """
        headers, stanzas = self._load_segments()
        firsts: list[tuple[int, int]] = []
        for rowid, prefix in self._conn.execute(
            "SELECT id, substr(body, 2, 4) FROM records ORDER BY id"
        ):
            seg_no = int.from_bytes(prefix, "big")
            if not firsts or firsts[-1][0] != seg_no:
                firsts.append((seg_no, rowid))
        times: list[int] = []
        kept: list[int] = []
        for seg_no, rowid in firsts:
            t = self._first_time(identity, seg_no, rowid, headers, stanzas)
            if t == "foreign":
                continue
            if not isinstance(t, int) or (times and t < times[-1]):
                return None
            times.append(t)
            kept.append(rowid)
        if not kept:
            return None
        lo = max(0, sum(t <= start_ns for t in times) - 2) if start_ns is not None else 0
        hi = min(len(kept), sum(t < end_ns for t in times) + 1) if end_ns is not None else len(kept)
        return kept[lo], (kept[hi] if hi < len(kept) else None)

    def _first_time(
        self,
        identity: Identity,
        seg_no: int,
        rowid: int,
        headers: dict[int, bytes],
        stanzas: dict[int, list[bytes]],
    ) -> int | str | None:
        """Start time of the segment's first record; "foreign" if the identity cannot open
        it (shredded, or not shared with it); None if anything is damaged."""
        try:
            header = SegmentHeader.parse(headers[seg_no])
        except (KeyError, ValueError):
            return None
        file_key = None
        for stanza in stanzas.get(seg_no, []):
            file_key = crypto.unwrap_file_key(stanza, identity, header.segment_id)
            if file_key is not None:
                break
        if file_key is None:
            return "foreign"
        keys = SegmentKeys.derive(file_key, header.segment_id)
        (body,) = self._conn.execute("SELECT body FROM records WHERE id=?", (rowid,)).fetchone()
        padded = crypto.open_record(keys, header.segment_id, 0, header.chain_start, body)
        if padded is None:
            return None
        try:
            rtype, plain = unframe(padded)
            payload = decode_payload(rtype, plain, body[0])
        except (ValueError, KeyError, IndexError):
            return None
        return None if payload is None else payload_time_range(payload)[0]

    # --- the walk ---------------------------------------------------------------------

    def _load_segments(self) -> tuple[dict[int, bytes], dict[int, list[bytes]]]:
        headers = dict(self._conn.execute("SELECT seg, header FROM segments").fetchall())
        stanzas: dict[int, list[bytes]] = {}
        for seg, body in self._conn.execute("SELECT seg, body FROM stanzas ORDER BY id"):
            stanzas.setdefault(seg, []).append(body)
        return headers, stanzas

    def _walk(
        self,
        identity: Identity | None,
        report: VerifyReport,
        progress: Callable[[float], None] | None,
        rows: tuple[int, int | None] | None = None,
        wanted: frozenset[int] | None = None,
    ) -> Iterator[StoredRecord | Problem]:
        # One read transaction: a consistent snapshot even while the writer appends.
        try:
            self._conn.execute("BEGIN")
            try:
                yield from self._walk_snapshot(identity, report, progress, rows, wanted)
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise TamperError(
                f"log {self.path}: the database file is damaged ({exc}); "
                "copy it before trying to repair it"
            ) from None

    def _walk_snapshot(
        self,
        identity: Identity | None,
        report: VerifyReport,
        progress: Callable[[float], None] | None,
        rows: tuple[int, int | None] | None,
        wanted: frozenset[int] | None,
    ) -> Iterator[StoredRecord | Problem]:
        headers, stanzas = self._load_segments()
        lo, hi = rows if rows is not None else (0, None)
        hi_sql = hi if hi is not None else 1 << 62
        total = max(
            1,
            int(
                self._conn.execute(
                    "SELECT count(*) FROM records WHERE id >= ? AND id < ?", (lo, hi_sql)
                ).fetchone()[0]
            ),
        )
        report.segments = len(headers)
        finished: dict[int, _SegState] = {}
        state: _SegState | None = None
        ordinal = int(
            self._conn.execute("SELECT count(*) FROM records WHERE id < ?", (lo,)).fetchone()[0]
        )
        first_seg: int | None = None
        for (body,) in self._conn.execute(
            "SELECT body FROM records WHERE id >= ? AND id < ? ORDER BY id", (lo, hi_sql)
        ):
            ordinal += 1
            report.records += 1
            if progress is not None and ordinal % 512 == 0:
                progress(ordinal / total)
            if len(body) < RECORD_PREFIX.size + MIN_BUCKET + TAG_SIZE:
                yield Problem(f"record {ordinal}", "too short to be a record (truncated)")
                continue
            version, seg_no, seq = RECORD_PREFIX.unpack_from(body)
            pos = Position(ordinal, seg_no, seq)
            if first_seg is None:
                first_seg = seg_no if rows is not None else 0
            if version not in READABLE_VERSIONS:
                yield Problem(str(pos), f"unknown record version {version}")
                continue
            clen = len(body) - RECORD_PREFIX.size - TAG_SIZE
            if bucket_size(clen) != clen:
                yield Problem(str(pos), "length is not a valid padded size (truncated or altered)")
            if state is None or seg_no != state.seg_no:
                if (state is not None and seg_no < state.seg_no) or seg_no in finished:
                    yield Problem(
                        str(pos),
                        f"belongs to segment {seg_no}, which ended earlier "
                        "(reordered or duplicated)",
                    )
                    continue
                if seg_no not in headers:
                    yield Problem(str(pos), f"names segment {seg_no}, which has no header")
                    continue
                if state is not None:
                    finished[state.seg_no] = state
                    self._finish(state, report)
                for skipped in range(state.seg_no + 1 if state else first_seg or 0, seg_no):
                    if skipped not in headers:
                        continue  # reported by the next segment's link check
                    # segments with no records at all (e.g. crash right after opening)
                    empty = self._start(skipped, headers, stanzas, identity, finished, report)
                    yield from empty[1]
                    finished[skipped] = empty[0]
                    self._finish(empty[0], report)
                state, problems = self._start(seg_no, headers, stanzas, identity, finished, report)
                yield from problems
            if state.header is not None and version != state.header.version:
                yield Problem(
                    str(pos),
                    f"record version {version} in a version {state.header.version} segment "
                    "(altered)",
                )
            if seq != state.expected_seq:
                what = "missing" if seq > state.expected_seq else "duplicated or reordered"
                yield Problem(
                    str(pos),
                    f"sequence number {seq} where {state.expected_seq} was "
                    f"expected: record(s) {what}",
                )
            if state.closed:
                yield Problem(str(pos), "follows the segment's close record (inserted)")
            prev_tag, state.prev_tag = state.prev_tag, body[-TAG_SIZE:]
            state.expected_seq = seq + 1
            state.count += 1
            if state.keys is None or state.header is None:
                continue
            padded = crypto.open_record(state.keys, state.header.segment_id, seq, prev_tag, body)
            if padded is None:
                yield Problem(
                    str(pos),
                    "fails authentication: altered, reordered, or a "
                    "record before it was removed or inserted",
                )
                continue
            if wanted is not None and padded[0] not in wanted:
                continue  # authentic; not decoded because the caller does not want it
            try:
                rtype, plain = unframe(padded)
                payload = decode_payload(rtype, plain, version)
            except (ValueError, KeyError, IndexError) as exc:
                yield Problem(str(pos), f"authentic but cannot be decoded ({exc})")
                continue
            if rtype == RecordType.CLOSE:
                if plain != close_body(seq):
                    yield Problem(str(pos), "close record does not match its position")
                    continue
                state.closed = True
            yield StoredRecord(pos, rtype, payload)
        if state is not None:
            finished[state.seg_no] = state
            self._finish(state, report)
        if rows is not None:  # a range: the segments around it, no whole-log notes
            if progress is not None:
                progress(1.0)
            return
        for seg_no in sorted(set(headers) - set(finished)):
            trailing, problems = self._start(seg_no, headers, stanzas, identity, finished, report)
            yield from problems
            finished[seg_no] = trailing
            self._finish(trailing, report)
        newest = max(headers, default=None)
        if newest is not None and finished[newest].keys is None:
            report.open_tail.append(
                f"segment {newest} (newest): whether it was closed cleanly needs a key; "
                "the tail of the newest segment can never be confirmed by a link"
            )
        elif newest is not None and not finished[newest].closed:
            report.open_tail.append(
                f"segment {newest} (newest) has no close record: the writer is running, or "
                "stopped abruptly; its tail cannot be confirmed"
            )
        if progress is not None:
            progress(1.0)

    def _start(
        self,
        seg_no: int,
        headers: dict[int, bytes],
        stanzas: dict[int, list[bytes]],
        identity: Identity | None,
        finished: dict[int, _SegState],
        report: VerifyReport,
    ) -> tuple[_SegState, list[Problem]]:
        problems: list[Problem] = []
        where = f"segment {seg_no}"
        try:
            header: SegmentHeader | None = SegmentHeader.parse(headers[seg_no])
        except ValueError as exc:
            problems.append(Problem(where, f"header is damaged ({exc})"))
            header = None
        state = _SegState(seg_no, header, None, len(stanzas.get(seg_no, [])))
        if header is None:
            return state, problems
        if header.version not in READABLE_VERSIONS or header.seg_no != seg_no:
            problems.append(Problem(where, "header does not belong here (altered or moved)"))
        state.prev_tag = header.chain_start
        prev = finished.get(seg_no - 1)
        if seg_no > 0 and prev is not None and prev.header is not None:
            link_ok = (
                header.prev_segment_id == prev.header.segment_id
                and header.prev_count == prev.count
                and header.prev_tag == prev.prev_tag
            )
            if not link_ok:
                problems.append(
                    Problem(
                        where,
                        f"link to segment {seg_no - 1} does not match: it should end after "
                        f"{header.prev_count} records but has {prev.count} (records removed, added "
                        "or altered at its end)",
                    )
                )
            elif prev.keys is not None and not prev.closed:
                report.open_tail.append(
                    f"segment {seg_no - 1} ended abruptly (writer crash); segment {seg_no}'s "
                    "link confirms nothing was removed after it"
                )
        elif seg_no > 0 and seg_no - 1 not in headers:
            problems.append(Problem(where, f"segment {seg_no - 1} is missing"))
        if not stanzas.get(seg_no):
            report.shredded.append(seg_no)
        elif identity is not None:
            for stanza in stanzas[seg_no]:
                file_key = crypto.unwrap_file_key(stanza, identity, header.segment_id)
                if file_key is not None:
                    state.keys = SegmentKeys.derive(file_key, header.segment_id)
                    break
            if state.keys is None:
                report.unreadable.append(seg_no)
            elif not crypto.verify_header_mac(state.keys, header):
                problems.append(Problem(where, "header fails authentication (altered)"))
                state.keys = None
        return state, problems

    @staticmethod
    def _finish(state: _SegState, report: VerifyReport) -> None:
        if state.closed:
            report.closed_segments += 1
