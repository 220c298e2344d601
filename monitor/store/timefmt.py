"""Times as people read and type them: ISO 8601, local time unless an offset is given."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.errors import InputError


def format_ns(t_ns: int) -> str:
    """Local ISO time to the second, with its UTC offset."""
    return datetime.fromtimestamp(t_ns / 1e9, tz=UTC).astimezone().isoformat(
        timespec="seconds")


def parse_time(text: str) -> int:
    """ns since the epoch from '2026-11-25', '2026-11-25T08:30', '...Z' or '...+01:00'."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"cannot read time {text!r}: use ISO 8601, e.g. 2026-11-25T08:30") from None
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
