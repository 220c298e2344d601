"""A decrypted log as the history and review screens need it (plain values, no I/O here).

Built from what the encrypted log holds (raw ECG blocks, classified beats, episode and
alert events); `load_log_view` opens the log through monitor.store. Everything is
placed on one host-time axis so a clinician can trace every finding back to the
raw ECG around it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Finding:
    """An episode or alert on the time line."""

    category: str  # "episode" or "alert"
    kind: str
    start_ns: int
    end_ns: int | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9


@dataclass
class LogView:
    """ECG on a regular grid (NaN where nothing was recorded), beats and findings."""

    fs: float
    t0_ns: int
    trace_uv: np.ndarray
    beat_ns: np.ndarray
    beat_labels: list[str]
    findings: list[Finding]

    @property
    def end_ns(self) -> int:
        return self.t0_ns + round(self.trace_uv.size * 1e9 / self.fs) if self.fs else self.t0_ns

    @property
    def duration_s(self) -> float:
        return self.trace_uv.size / self.fs if self.fs else 0.0

    @property
    def recorded_s(self) -> float:
        return float(np.isfinite(self.trace_uv).sum()) / self.fs if self.fs else 0.0

    def index_of(self, t_ns: int) -> float:
        return (t_ns - self.t0_ns) * self.fs / 1e9

    def beats_as_indices(self) -> list[tuple[int, str]]:
        idx = np.round((self.beat_ns - self.t0_ns) * self.fs / 1e9).astype(np.int64)
        return list(zip(idx.tolist(), self.beat_labels, strict=True))

    def stats(self) -> dict[str, Any]:
        """Beat counts per class and heart rate from consecutive beats (RR under 3 s)."""
        counts = Counter(self.beat_labels)
        rr = np.diff(self.beat_ns) / 1e9 if self.beat_ns.size > 1 else np.empty(0)
        rr = rr[(rr > 0.2) & (rr < 3.0)]
        hr = 60.0 / rr if rr.size else np.empty(0)
        return {
            "beats": len(self.beat_labels),
            "counts": dict(counts),
            "hr_median": float(np.median(hr)) if hr.size else None,
            "hr_min": float(np.percentile(hr, 2)) if hr.size else None,
            "hr_max": float(np.percentile(hr, 98)) if hr.size else None,
            "recorded_s": self.recorded_s,
            "span_s": self.duration_s,
            "episodes": sum(f.category == "episode" for f in self.findings),
            "alerts": sum(f.category == "alert" for f in self.findings),
        }


def build_view(
    blocks: Sequence[tuple[int, float, np.ndarray]],
    beats: Iterable[tuple[int, str]],
    events: Iterable[tuple[str, str, int, int | None, dict[str, Any]]],
) -> LogView:
    """blocks: (t0_ns, fs, samples); beats: (time_ns, label); events: (category, kind,
    t_ns, end_ns, data). Only episode and alert events become findings; an episode
    reported at onset and again when final is shown once, as its final form."""
    rates = {fs for _, fs, _ in blocks}
    fs = rates.pop() if len(rates) == 1 else (max(rates) if rates else 130.0)
    blocks = sorted((b for b in blocks if b[1] == fs), key=lambda b: b[0])
    if blocks:
        t0 = blocks[0][0]
        period = 1e9 / fs
        end = max(b[0] + round(len(b[2]) * period) for b in blocks)
        trace = np.full(max(0, round((end - t0) / period)), np.nan)
        for b0, _, samples in blocks:
            i = round((b0 - t0) / period)
            n = min(len(samples), trace.size - i)
            trace[i : i + n] = np.asarray(samples[:n], dtype=np.float64)
    else:
        t0, trace = 0, np.empty(0)
    pairs = sorted(beats)
    findings: dict[str, Finding] = {}
    order: list[str] = []
    for category, kind, t_ns, end_ns, data in events:
        if category not in ("episode", "alert"):
            continue
        key = f"{category}:{data.get('id')}" if data.get("id") else f"{category}:{len(order)}"
        if key not in findings:
            order.append(key)
        findings[key] = Finding(category, kind, t_ns, end_ns, dict(data))
    listed = sorted((findings[k] for k in order), key=lambda f: f.start_ns)
    return LogView(
        fs=fs,
        t0_ns=t0,
        trace_uv=trace,
        beat_ns=np.asarray([t for t, _ in pairs], dtype=np.int64),
        beat_labels=[label for _, label in pairs],
        findings=listed,
    )


def load_log_view(path: Path, identity: Any, start_ns: int | None = None) -> LogView:
    """Decrypt the log at `path` (from `start_ns` on) with `identity` into a LogView."""
    from monitor.store.export import collect

    data = collect(path, identity, start_ns, None)
    blocks = [(b.t0_ns, float(b.fs), b.samples_uv) for b in data.blocks]
    beats = [(int(t), str(beat.label)) for t, beat in data.beats]
    events = [(e.category, e.kind, int(e.t_ns), e.end_ns, dict(e.data)) for e in data.events]
    return build_view(blocks, beats, events)
