"""What the TUI knows: the daemon's messages folded into one plain value.

Kept apart from the widgets so the folding (trace ring buffer, beats, alerts) is
plain Python the tests can drive without a terminal, and so the screen shows only
what the daemon said: no label is invented here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TRACE_KEEP_S = 12.0
"""Trace history kept (a little more than the widest window shown)."""


@dataclass
class Beat:
    index: int  # working-rate sample index
    time_s: float
    label: str
    noisy: bool


@dataclass
class LiveState:
    connected: bool = False
    """A daemon is connected to this client right now."""
    connect_error: str = "connecting to the daemon..."
    hello: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    trace_fs: float = 65.0
    working_fs: float = 130.0
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)
    episodes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    beats: deque[Beat] = field(default_factory=lambda: deque(maxlen=200))
    messages: int = 0

    def __post_init__(self) -> None:
        self._trace = np.zeros(0)
        self._trace_start = 0  # trace-rate index of _trace[0]

    # -- folding messages ------------------------------------------------------------

    def apply(self, msg: dict[str, Any]) -> None:
        self.messages += 1
        kind = msg.get("type")
        if kind == "hello":
            self.hello = msg
            self.trace_fs = float(msg.get("trace_fs", self.trace_fs))
            self.working_fs = float(msg.get("working_fs", self.working_fs))
        elif kind == "status":
            self.status = msg
        elif kind == "samples":
            self._add_samples(int(msg["start"]), np.asarray(msg["uv"], dtype=np.float64))
        elif kind == "beats":
            for b in msg.get("beats", []):
                beat = Beat(int(b["i"]), float(b["t"]), str(b["label"]), bool(b.get("noisy")))
                if not self.beats or beat.index > self.beats[-1].index:
                    self.beats.append(beat)
        elif kind == "alert":
            self.alerts[int(msg["id"])] = msg
            self._trim_alerts()
        elif kind == "episode":
            self.episodes.append(msg)

    def _add_samples(self, start: int, values: np.ndarray) -> None:
        end = self._trace_start + self._trace.size
        if self._trace.size == 0 or start > end or start < self._trace_start:
            # First samples, or a jump (joined late, the daemon skipped ahead): start afresh.
            self._trace, self._trace_start = values.copy(), start
        else:  # contiguous, or overlapping what we already have
            self._trace = np.concatenate([self._trace, values[end - start :]])
        keep = int(TRACE_KEEP_S * self.trace_fs)
        if self._trace.size > keep:
            drop = self._trace.size - keep
            self._trace = self._trace[drop:]
            self._trace_start += drop

    def _trim_alerts(self) -> None:
        done = [i for i, a in self.alerts.items() if a.get("acknowledged") and not a.get("active")]
        for alert_id in sorted(done)[:-20]:
            del self.alerts[alert_id]

    # -- reading -------------------------------------------------------------------------

    def trace(self) -> tuple[int, np.ndarray]:
        """(trace-rate index of the first value, values)."""
        return self._trace_start, self._trace

    def pending_alerts(self) -> list[dict[str, Any]]:
        """Alerts nobody has acknowledged yet, most severe and newest first."""
        rank = {"critical": 0, "warning": 1, "info": 2}
        todo = [a for a in self.alerts.values() if not a.get("acknowledged")]
        return sorted(todo, key=lambda a: (rank.get(a.get("severity", ""), 3), -int(a["id"])))
