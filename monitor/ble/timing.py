"""Strap timing, pure and synchronous: sensor clock -> host clock, and frame order.

Two small state machines the session feeds with every decoded ECG frame:

* `ClockMap` maps the strap's clock (PMD ns since 2000) onto the host clock.
  Notification latency is always positive and varies, so the map is a
  least-squares slope through recent (sensor, host receive) pairs with its
  offset moved down to the lower envelope: the frames that arrived fastest
  define the mapping. The slope gives the drift of the strap's crystal against
  the host (Polar quotes 20 ppm), exposed as `drift_ppm`.
* `FrameSequencer` decides, from the timestamps alone, whether a frame follows
  the previous one, leaves a gap (and how many samples are missing), repeats a
  frame, or arrives out of order. A frame that follows a gap is held until the
  next frame arrives, so a pair swapped in transit is put back in order instead
  of being reported as lost. Per-sample timing follows Polar's SDK
  (PmdTimeStampUtils.kt): the sample interval comes from consecutive frame
  timestamps, never from an assumed 130 Hz.

The strap's clock can jump (its time set by another app, a firmware reset) while
the samples keep flowing. The sequencer then moves every later timestamp by the
jump, so the timeline stays monotonic and no sample received in order is lost:

* backwards: a frame behind the timeline is held; when the next frame follows it
  on the strap's clock and is also behind, it was the clock, not a straggler;
* forwards (or backwards by more than the overlap rule can see): the host clock
  says where the frame belongs (`expected_ns`, from the session's clock map), and
  a frame from the future is impossible.

Either way the frame is placed right after the last one, or whole frames later when
the host clock shows that frames were lost at the jump.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.ble.pmd import EcgDataFrame


class ClockMap:
    """Sensor ns -> host ns with drift, from (sensor timestamp, host receive time) pairs.

    The slope is a least-squares line through the fastest frame of each of
    `segments` equal stretches of the window (the lower envelope), so frames that
    were held up somewhere do not tilt it; it is refitted every `refit_every`
    frames once the window spans `min_span_s`.
    """

    segments = 8
    refit_every = 16

    def __init__(self, window: int = 1024, min_span_s: float = 30.0) -> None:
        self._window = window
        self._sensor = np.zeros(window, dtype=np.float64)
        self._host = np.zeros(window, dtype=np.float64)
        self._count = 0
        self._min_span_ns = min_span_s * 1e9
        self._ref_sensor = 0
        self._ref_host = 0
        self._offset = 0.0
        self._slope = 1.0

    def reset(self) -> None:
        """Forget everything (the strap's clock was reset, or the host's jumped)."""
        self._count = 0
        self._slope = 1.0

    @property
    def ready(self) -> bool:
        return self._count > 0

    @property
    def drift_ppm(self) -> float:
        """How fast the strap's clock runs against the host's, in parts per million."""
        return (1.0 / self._slope - 1.0) * 1e6

    def observe(self, sensor_ns: int, host_ns: int) -> int:
        """Add a pair; returns the latency of this frame against the map, in ns."""
        if self._count == 0:
            self._ref_sensor = sensor_ns
            self._ref_host = host_ns
            self._offset = 0.0
        x = float(sensor_ns - self._ref_sensor)
        y = float(host_ns - self._ref_host)
        slot = self._count % self._window
        self._sensor[slot] = x
        self._host[slot] = y
        self._count += 1
        if self._count == 1 or self._count % self.refit_every == 0:
            self._refit()
        else:
            self._offset = min(self._offset, y - self._slope * x)
        return host_ns - self.to_host(sensor_ns)

    def _refit(self) -> None:
        n = min(self._count, self._window)
        sensor = self._sensor[:n]
        host = self._host[:n]
        lo, hi = float(sensor.min()), float(sensor.max())
        if n >= 16 and hi - lo >= self._min_span_ns:
            lag = host - sensor
            which = np.minimum(
                ((sensor - lo) / (hi - lo) * self.segments).astype(np.int64), self.segments - 1
            )
            order = np.lexsort((lag, which))
            first = np.flatnonzero(np.r_[True, which[order][1:] != which[order][:-1]])
            best = order[first]
            if best.size >= 3:
                xs, ys = sensor[best], host[best]
                xm, ym = xs.mean(), ys.mean()
                slope = float(((xs - xm) * (ys - ym)).sum() / ((xs - xm) ** 2).sum())
                if 0.9 < slope < 1.1:  # a clock cannot be 10 % off; anything else is noise
                    self._slope = slope
        self._offset = float((host - self._slope * sensor).min())

    def to_sensor(self, host_ns: int) -> float:
        """Where on the strap's clock a frame received at `host_ns` would be, had it
        arrived with the fastest latency seen (the inverse of `to_host`)."""
        return self._ref_sensor + (host_ns - self._ref_host - self._offset) / self._slope

    def to_host(self, sensor_ns: int | float) -> int:
        """Host time (ns) of an instant given on the strap's clock."""
        return self._ref_host + round(self._offset + self._slope * (sensor_ns - self._ref_sensor))

    def host_duration(self, sensor_duration_ns: float) -> int:
        return round(self._slope * sensor_duration_ns)


@dataclass(frozen=True)
class Placed:
    """A frame accepted in order: its samples and the sensor time of its first sample."""

    frame: EcgDataFrame
    first_sensor_ns: float
    interval_ns: float


@dataclass(frozen=True)
class Missing:
    """Samples that never arrived, between two accepted frames (sensor clock)."""

    start_sensor_ns: float
    samples: int
    interval_ns: float


@dataclass(frozen=True)
class Repeated:
    """A frame whose timestamp was already accepted: discarded."""

    sensor_ns: int


@dataclass(frozen=True)
class Reordered:
    """A frame older than one already received. recovered: put back in order, else discarded."""

    sensor_ns: int
    recovered: bool


@dataclass(frozen=True)
class Jumped:
    """The strap's clock jumped by `jump_ns` (negative: backwards) at the frame stamped
    `sensor_ns` (its own clock); it and every later frame are moved back by the jump."""

    sensor_ns: int
    jump_ns: int


@dataclass(frozen=True)
class Restarted:
    """The strap's clock cannot bridge the reconnection (it was reset, or jumped):
    the next frame starts a new timeline, and the loss must be measured on the host."""


SequencerOutput = Placed | Missing | Repeated | Reordered | Restarted | Jumped

MAX_BRIDGE_NS = 6 * 3600 * 10**9
"""Across a reconnection, a gap longer than this is not trusted to the strap's clock."""

BRIDGE_AGREE_NS = 1_000_000_000
"""Across a reconnection the strap's clock bridges the loss only if it agrees with the
host's this well (its clock may have been set while it was out of reach)."""

FUTURE_NS = 1_000_000_000
"""A frame this far ahead of where the host clock puts it has not travelled back in
time: the strap's clock jumped forwards (the clock map's own error is milliseconds)."""


class FrameSequencer:
    """Orders ECG frames by timestamp and finds gaps, duplicates, reordering and clock jumps."""

    def __init__(self, nominal_fs: float, history: int = 64) -> None:
        self._nominal_interval = 1e9 / nominal_fs
        self._last: EcgDataFrame | None = None
        self._pending: EcgDataFrame | None = None
        self._suspect: EcgDataFrame | None = None
        self._suspect_expected: float | None = None
        self._recent: deque[int] = deque(maxlen=history)
        self._span_ns = 0.0
        self._span_samples = 0
        self._fresh = False
        self._shift_ns = 0

    @property
    def interval_ns(self) -> float:
        """Current estimate of the sample interval on the strap's clock."""
        if self._span_samples >= 64:
            return self._span_ns / self._span_samples
        return self._nominal_interval

    @property
    def sample_rate_hz(self) -> float:
        """Measured sample rate (strap clock); Polar: 'between 128 and 131 Hz'."""
        return 1e9 / self.interval_ns

    @property
    def shift_ns(self) -> int:
        """What is added to the strap's timestamps since its clock jumped (0 until then)."""
        return self._shift_ns

    def corrected_ns(self, sensor_ns: int) -> int:
        """A strap timestamp on the sequencer's timeline (clock jumps taken out)."""
        return sensor_ns + self._shift_ns

    @property
    def held_ns(self) -> int | None:
        """Timeline timestamp of a frame held because it is behind the timeline: the
        next frame tells whether it was a straggler or the strap's clock going back."""
        return None if self._suspect is None else self._suspect.sensor_ns

    def restart(self) -> list[SequencerOutput]:
        """A new connection: flush what is held; the next frame starts afresh.

        The interval estimate is kept, it belongs to the strap, not the link.
        """
        out = self.flush()
        self._fresh = True
        return out

    def flush(self) -> list[SequencerOutput]:
        """Release what is held (the stream stopped or stalled)."""
        out: list[SequencerOutput] = []
        if self._pending is not None:
            pending, self._pending = self._pending, None
            out += self._accept(pending)
        out += self._drop_suspect()
        return out

    def push(self, frame: EcgDataFrame, expected_ns: float | None = None) -> list[SequencerOutput]:
        """Feed one decoded frame; returns what can be released now, in order.

        expected_ns: where the host clock puts this frame's last sample on the
        timeline (the session's clock map, assuming the fastest latency seen), or
        None; it only serves to see and place clock jumps.
        """
        if self._shift_ns:
            frame = EcgDataFrame(frame.sensor_ns + self._shift_ns, frame.samples_uv)
        return self._push(frame, expected_ns)

    def _push(self, frame: EcgDataFrame, expected_ns: float | None) -> list[SequencerOutput]:
        ts = frame.sensor_ns
        out: list[SequencerOutput] = []
        if self._fresh:
            self._fresh = False
            last = self._last
            disagree = expected_ns is not None and abs(ts - expected_ns) > BRIDGE_AGREE_NS
            if last is not None and (disagree or not 0 < ts - last.sensor_ns <= MAX_BRIDGE_NS):
                self._last = None
                self._recent.clear()
                out.append(Restarted())
            return out + self._push(frame, None if out else expected_ns)
        if ts in self._recent or (self._suspect is not None and ts == self._suspect.sensor_ns):
            return [Repeated(ts)]
        newest = self._pending if self._pending is not None else self._last
        if newest is not None and expected_ns is not None and ts - expected_ns > FUTURE_NS:
            return self._drop_suspect() + self._jump(frame, expected_ns)
        last = self._last
        if last is not None and self._missing(last, frame) < -len(frame) / 2:
            # it overlaps what is placed already: a straggler, or the strap's clock went back
            suspect = self._suspect
            if (
                suspect is not None
                and ts > suspect.sensor_ns
                and self._missing(suspect, frame) >= 0
            ):
                # two frames in a row behind the timeline, following each other: the clock
                self._suspect = None
                before = self._shift_ns
                out = self._jump(suspect, self._suspect_expected)
                moved = EcgDataFrame(ts + self._shift_ns - before, frame.samples_uv)
                return out + self._push(moved, expected_ns)
            if ts > last.sensor_ns:  # newer than the last frame, yet overlapping it: the clock
                return self._drop_suspect() + self._jump(frame, expected_ns)
            out = self._drop_suspect()
            self._suspect, self._suspect_expected = frame, expected_ns
            return out
        out = self._drop_suspect()
        pending = self._pending
        if pending is None:
            if last is None or self._missing(last, frame) <= 0:
                return out + self._accept(frame)
            self._pending = frame
            self._recent.append(ts)
            return out
        if ts < pending.sensor_ns:
            # the frame we were waiting for (or one of them) arrived late: put it back
            out.append(Reordered(ts, recovered=True))
            out += self._accept(frame)
            if self._last is not None and self._missing(self._last, pending) <= 0:
                self._pending = None
                out += self._accept(pending)
            return out
        out += self.flush()
        return out + self._push(frame, expected_ns)

    def _drop_suspect(self) -> list[SequencerOutput]:
        """The frame held behind the timeline was a straggler after all: discard it."""
        suspect, self._suspect = self._suspect, None
        return [] if suspect is None else [Reordered(suspect.sensor_ns, recovered=False)]

    def _jump(self, frame: EcgDataFrame, expected_ns: float | None) -> list[SequencerOutput]:
        """The strap's clock jumped at `frame`: shift it (and all later frames) to follow
        the last placed frame, whole frames later when the host clock says some were lost."""
        out: list[SequencerOutput] = []
        if self._pending is not None:
            pending, self._pending = self._pending, None
            out += self._accept(pending)
        last = self._last
        assert last is not None
        step = len(frame) * self.interval_ns
        target = last.sensor_ns + step
        if expected_ns is not None:
            target += max(0, round((expected_ns - target) / step)) * step
        delta = round(target) - frame.sensor_ns
        self._shift_ns += delta
        out.append(Jumped(frame.sensor_ns - self._shift_ns + delta, -delta))
        return out + self._accept(EcgDataFrame(frame.sensor_ns + delta, frame.samples_uv))

    def _missing(self, last: EcgDataFrame, frame: EcgDataFrame) -> int:
        """Samples missing between two frames, from their last-sample timestamps."""
        elapsed = frame.sensor_ns - last.sensor_ns
        return round(elapsed / self.interval_ns) - len(frame)

    def _accept(self, frame: EcgDataFrame) -> list[SequencerOutput]:
        out: list[SequencerOutput] = []
        last = self._last
        n = len(frame)
        if last is None:
            interval = self.interval_ns
            first = frame.sensor_ns - (n - 1) * interval
        else:
            missing = self._missing(last, frame)
            if missing > 0:
                interval = self.interval_ns
                out.append(Missing(last.sensor_ns + interval, missing, interval))
                first = frame.sensor_ns - (n - 1) * interval
            else:
                interval = (frame.sensor_ns - last.sensor_ns) / n
                first = last.sensor_ns + interval
                if missing == 0:
                    self._span_ns += frame.sensor_ns - last.sensor_ns
                    self._span_samples += n
        if frame.sensor_ns not in self._recent:
            self._recent.append(frame.sensor_ns)
        self._last = frame
        out.append(Placed(frame, first, interval))
        return out
