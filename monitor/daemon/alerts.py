"""Alerts the daemon raises: never silent, acknowledged by a person, cleared by facts.

An alert is raised once per condition (a disconnected strap, stale data, noise, a
storage error, a rhythm finding) and stays until both the condition has ended
(`active` False) and someone acknowledged it; a resolved alert nobody saw is still
shown, so a problem that came and went overnight is not lost.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    severity: str
    message: str
    raised_at: float
    active: bool = True
    acknowledged: bool = False
    cleared_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


class AlertBook:
    """The alerts of one daemon run, keyed by id; at most one active alert per kind."""

    def __init__(self, keep: int = 200) -> None:
        self._alerts: dict[int, Alert] = {}
        self._active: dict[str, int] = {}
        self._next = 1
        self._keep = keep

    def raise_(self, kind: str, message: str, severity: str = "warning") -> Alert | None:
        """Raise `kind` unless it is already active; return the new alert (None if not new)."""
        if kind in self._active:
            return None
        alert = Alert(self._next, kind, severity, message, time.time())
        self._next += 1
        self._alerts[alert.id] = alert
        self._active[kind] = alert.id
        self._trim()
        return alert

    def clear(self, kind: str) -> Alert | None:
        """The condition of `kind` has ended; return the updated alert (None if none active)."""
        alert_id = self._active.pop(kind, None)
        if alert_id is None:
            return None
        alert = replace(self._alerts[alert_id], active=False, cleared_at=time.time())
        self._alerts[alert_id] = alert
        return alert

    def acknowledge(self, alert_id: int) -> Alert | None:
        alert = self._alerts.get(alert_id)
        if alert is None or alert.acknowledged:
            return None
        alert = replace(alert, acknowledged=True)
        self._alerts[alert_id] = alert
        return alert

    def is_active(self, kind: str) -> bool:
        return kind in self._active

    def pending(self) -> list[Alert]:
        """Alerts still to show: active, or resolved but not acknowledged."""
        return [a for a in self._alerts.values() if a.active or not a.acknowledged]

    def _trim(self) -> None:
        if len(self._alerts) <= self._keep:
            return
        for alert_id in sorted(self._alerts):
            alert = self._alerts[alert_id]
            if not alert.active and alert.acknowledged:
                del self._alerts[alert_id]
                if len(self._alerts) <= self._keep:
                    return
