"""Typed events the strap session yields alongside `EcgFrame`s.

Every one is a small frozen dataclass with host times in Unix ns, so the daemon
can log it, show it and store it without knowing anything about Bluetooth. The
session never loses data silently: every gap, duplicate, reordering, stall,
malformed packet and state change is one of these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SessionState(enum.Enum):
    SCANNING = "scanning"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class StateChanged:
    """The connection moved to `state`.

    reason: why (the failure before RECONNECTING/FAILED, the mode when STREAMING).
    attempt: consecutive failed attempts so far; retry_in_s: backoff before the next.
    """

    state: SessionState
    t_ns: int
    reason: str = ""
    device: str = ""
    attempt: int = 0
    retry_in_s: float | None = None


@dataclass(frozen=True)
class Gap:
    """ECG samples that never arrived: `samples` at the strap's rate from `start_ns`."""

    start_ns: int
    duration_ns: int
    samples: int


@dataclass(frozen=True)
class DuplicateFrame:
    """A frame with a timestamp already received; its samples were discarded."""

    t_ns: int
    sensor_ns: int


@dataclass(frozen=True)
class OutOfOrderFrame:
    """A frame older than one already received.

    recovered: it filled a gap and was put back in order (no gap is reported);
    otherwise it arrived too late, was discarded, and its samples were in a Gap.
    """

    t_ns: int
    sensor_ns: int
    recovered: bool


@dataclass(frozen=True)
class ClockJump:
    """The strap's timestamps jumped by `jump_s` against the host's clock (negative:
    backwards), e.g. its time was set by another app. The samples keep their place:
    frames from here on are moved back onto the timeline, and only frames the host
    clock shows were lost at the jump become a Gap."""

    t_ns: int
    jump_s: float


@dataclass(frozen=True)
class LateFrame:
    """A frame that reached the host `latency_s` later than the strap's clock implies."""

    t_ns: int
    latency_s: float


@dataclass(frozen=True)
class Stalled:
    """Connected, but nothing arrived for `silence_s`: the session reconnects."""

    t_ns: int
    silence_s: float


@dataclass(frozen=True)
class StreamStopped:
    """The strap stopped the ECG stream on its own (PMD `01 00` indication)."""

    t_ns: int


@dataclass(frozen=True)
class EcgUnavailable:
    """The strap refused or lacks raw ECG; the session continues with heart rate/RR only."""

    t_ns: int
    reason: str


@dataclass(frozen=True)
class BatteryLevel:
    t_ns: int
    percent: int


@dataclass(frozen=True)
class HeartRate:
    """One Heart Rate Service notification: the strap's own HR and RR intervals (s)."""

    t_ns: int
    bpm: int
    rr_s: tuple[float, ...]
    contact: str


@dataclass(frozen=True)
class Malformed:
    """A notification that did not decode; `count` is the session's running total."""

    t_ns: int
    characteristic: str
    error: str
    count: int


SessionEvent = (
    StateChanged
    | Gap
    | DuplicateFrame
    | OutOfOrderFrame
    | ClockJump
    | LateFrame
    | Stalled
    | StreamStopped
    | EcgUnavailable
    | BatteryLevel
    | HeartRate
    | Malformed
)
