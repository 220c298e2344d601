"""One line of text per status message (for `ecgmon demo --headless` and scripts)."""

from __future__ import annotations

from typing import Any


def format_status(status: dict[str, Any], pending_alerts: list[str] | None = None) -> str:
    """E.g. `t=12.0s connected hr=75 rhythm=- quality=- N=0 ... ?=14 log=off age=0.1s alerts=0`."""
    hr = status.get("heart_rate_bpm")
    quality = status.get("quality")
    counts = status.get("counts") or {}
    age = status.get("last_sample_age_s")
    parts = [
        f"t={status.get('stream_s', 0):.1f}s",
        str(status.get("connection", "?")) + (" STALE" if status.get("stale") else ""),
        f"hr={hr:.0f}" if hr is not None else "hr=-",
        f"rhythm={status.get('rhythm') or '-'}",
        f"quality={quality['level']:.2f}" if quality else "quality=-",
        " ".join(f"{k}={v}" for k, v in counts.items()),
        f"log={(status.get('storage') or {}).get('state', '?')}",
        f"age={age:.1f}s" if age is not None else "age=-",
        f"alerts={status.get('alerts_pending', 0)}",
    ]
    line = " ".join(parts)
    if pending_alerts:
        line += " [" + "; ".join(pending_alerts) + "]"
    return line
