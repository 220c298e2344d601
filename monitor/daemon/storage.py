"""The encrypted log (monitor.store) as the daemon's log sink.

Raw ECG goes into the log in blocks of BLOCK_S seconds, with the beats and the episode
updates of the same stretch in the same transaction: one durable commit (one fsync) per
block instead of one per 73-sample notification and one per episode update. Alerts,
device events and summaries are committed (and fsync'd) as they happen, together with
any episode updates still waiting. A crash loses at most the block being gathered:
its ECG, beats and episode updates (those of at most BLOCK_S seconds of ECG, or of one
longer frame; while no ECG arrives they wait with the unfinished block, until ECG
resumes, an alert or device event is written, or close()). Everything written before
that block's commit is on disk. The writer needs public keys only.

When the disk is full the writer keeps sealed records in memory and retries; the
sink reports that as the storage state "full" (the daemon raises the alert), and a
hard failure as an OSError, which stops logging but not the live view.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import numpy as np

from monitor.classify.beat import ClassifiedBeat
from monitor.frame import EcgFrame

BLOCK_S = 10.0
"""Seconds of raw ECG per log record."""
MAX_WAITING_EPISODES = 64
"""Episode updates held for the next block's commit before they are committed alone
(bounds memory, and the loss on a crash, should episodes come without ECG)."""


class EncryptedLogSink:
    def __init__(self, writer: Any, stream_t0: Any, *, fsync_episodes: bool = True) -> None:
        """writer: a monitor.store LogWriter; stream_t0(): host ns of stream sample 0.

        By default an episode update waits in memory, like the beats, and is committed
        with fsync in the next transaction: the ECG block's (within BLOCK_S of ECG), or an
        alert's, device event's or summary's if one comes first, or close(). It is
        durable (survives a crash of the daemon or the machine) when that commit
        returns; a crash before then loses it with the block being gathered. A day of
        MIT-BIH has ~2,600 episode updates against ~1,400 60 s blocks in the
        end-to-end replay (8,640 10 s blocks live): one fsync each was most of the
        log's cost.

        fsync_episodes=False (opt-in, off by default) instead commits each episode at
        once without an fsync (`LogWriter.append(..., durable=False)`): it survives a
        crash of the daemon as soon as write_event returns, and a power loss from the
        next durable commit on. Alerts, device events and summaries are always
        committed at once and fsync'd.
        """
        self.writer = writer
        self._fsync_episodes = fsync_episodes
        self._stream_t0 = stream_t0
        self._block: list[np.ndarray] = []
        self._block_t0: int | None = None
        self._block_fs = 0.0
        self._block_n = 0
        self._expected_next: int | None = None
        self._beats: list[ClassifiedBeat] = []
        self._beats_t0: int | None = None
        self._episodes: list[Any] = []
        """Episode updates (store Events) waiting for the next commit, in call order."""

    @classmethod
    def open(
        cls, path: Path, recipients: list[Any], stream_t0: Any, reload_recipients: Any = None
    ) -> EncryptedLogSink:
        """reload_recipients(): the current recipients, re-read at every segment rotation
        (a clinician added with `ecgmon keys` gets the next segments)."""
        from monitor.store.writer import LogWriter

        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(LogWriter(path, recipients, reload_recipients=reload_recipients), stream_t0)

    def describe(self) -> str:
        return f"encrypted log {self.writer.path}"

    def state(self) -> tuple[str, str]:
        """("writing", detail) or ("full", why) while records wait in memory."""
        status = self.writer.status
        if status.last_error:
            return "full", f"{status.last_error}; {status.pending} records held in memory"
        return "writing", f"{self.describe()}, segment {status.segment}"

    def write_frame(self, frame: EcgFrame) -> None:
        x = np.asarray(frame.samples_uv, dtype=np.float64)
        # One reduction instead of an elementwise test: the sum is finite exactly when
        # every sample is (or, harmlessly, when huge samples overflow it: checked below).
        if math.isfinite(np.add.reduce(x)) or np.isfinite(x).all():
            self._write_run(frame.t0_ns, float(frame.fs), x)
            return
        # Never store invented values: keep the finite runs, the rest is a gap.
        finite = np.isfinite(x)
        period_ns = 1e9 / frame.fs
        edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            self._write_run(frame.t0_ns + round(lo * period_ns), float(frame.fs), x[lo:hi])
        self._expected_next = None

    def _write_run(self, t0_ns: int, fs: float, x: np.ndarray) -> None:
        """Gather x (finite samples from t0_ns) into the block; flush it when full or
        when x does not continue it (a gap, another rate)."""
        period_ns = 1e9 / fs
        if self._block and (
            fs != self._block_fs
            or self._expected_next is None
            or abs(t0_ns - self._expected_next) >= 2 * period_ns
        ):
            self._flush_block()
        if not self._block:
            self._block_t0, self._block_fs = t0_ns, fs
        self._block.append(x)
        self._block_n += len(x)
        self._expected_next = t0_ns + round(len(x) * period_ns)
        if self._block_n >= BLOCK_S * fs:
            self._flush_block()

    def write_beats(self, beats: list[ClassifiedBeat]) -> None:
        t0 = self._stream_t0()
        if self._beats and t0 != self._beats_t0:
            self._flush_beats()  # the stream origin moved (a gap): a new batch
        self._beats_t0 = t0
        self._beats.extend(beats)

    def write_event(
        self, category: str, kind: str, t_ns: int, end_ns: int | None, data: dict[str, Any]
    ) -> None:
        from monitor.store.records import Event

        event = Event(category, kind, t_ns, end_ns, data)
        if category != "episode":
            # Committed (with fsync) now, with the episode updates before it.
            self._check(self.writer.append_many([*self._take_episodes(), event]))
        elif not self._fsync_episodes:
            self._check(self.writer.append(event, durable=False))
        else:
            self._episodes.append(event)
            if len(self._episodes) >= MAX_WAITING_EPISODES:
                self._check(self.writer.append_many(self._take_episodes()))

    def close(self) -> None:
        try:
            self._flush_block()
        finally:
            self.writer.close()

    def _flush_block(self) -> None:
        from monitor.store.records import BeatBatch, EcgBlock

        payloads: list[Any] = []
        if self._block and self._block_t0 is not None:
            payloads.append(
                EcgBlock.from_uv(self._block_t0, self._block_fs, np.concatenate(self._block))
            )
        if self._beats and self._beats_t0 is not None:
            payloads.append(BeatBatch(self._beats_t0, self._block_fs or 130.0, tuple(self._beats)))
        self._block, self._block_n, self._block_t0 = [], 0, None
        self._beats = []
        payloads += self._take_episodes()
        if payloads:
            self._check(self.writer.append_many(payloads))

    def _flush_beats(self) -> None:
        from monitor.store.records import BeatBatch

        if self._beats and self._beats_t0 is not None:
            batch = BeatBatch(self._beats_t0, self._block_fs or 130.0, tuple(self._beats))
            self._beats = []
            self._check(self.writer.append_many([batch, *self._take_episodes()]))

    def _take_episodes(self) -> list[Any]:
        """The waiting episode updates (to commit now, after what the caller commits)."""
        waiting, self._episodes = self._episodes, []
        return waiting

    def _check(self, stored: bool) -> None:
        """The writer holds records in memory when it cannot write; the daemon reads
        `state()` to say so. Only a writer error beyond retrying is an exception."""
        del stored


def storage_oserror(exc: Exception) -> OSError:
    """A store error as the OSError the daemon handles (ENOSPC when the disk is full)."""
    from monitor.store.errors import StorageFullError

    code = errno.ENOSPC if isinstance(exc, StorageFullError) else errno.EIO
    return OSError(code, str(exc))
