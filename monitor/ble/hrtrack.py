"""The virtual strap's Heart Rate notifications, computed as they are sent.

An H10 sends one Heart Rate Measurement a second: the rate over its recent beats
and the RR intervals of the beats of that second (1/1024 s). The virtual strap
derives them from the source's R-peaks: given ones, or its own streaming QRS
detector run over the source.

Computing a whole day up front cost ~13 CPU s and ~1.1 GB (finding B2: detecting
the whole recording in one call, then a scan of every peak for every second). Here
the detector is fed a few seconds ahead of the notification asked for, and only the
last seconds of peaks are kept: memory is bounded whatever the source's length, and
the work is spread over the stream. The bytes are the same as the whole-recording
computation's, because the detector's output does not depend on its chunking and
each beat is reported within its stated delay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from monitor.ble import hrs

BPM_WINDOW_S = 8
"""The rate is the mean RR over the beats of the last eight seconds."""
CHUNK_S = 10.0
"""How much ECG the detector is fed at a time, when it has to look ahead."""


class HeartRateTrack:
    """Heart Rate notifications for seconds 1, 2, ... of a source, on demand.

    Ask with non-decreasing seconds (`notification`), or iterate (`from_second`), as
    the strap does across reconnections; asking for an earlier second than the last
    starts the computation over.
    """

    def __init__(
        self, samples_uv: np.ndarray, fs: float, r_peaks: np.ndarray | None = None
    ) -> None:
        self._samples = samples_uv
        self.fs = float(fs)
        self._given = None if r_peaks is None else np.sort(np.asarray(r_peaks, dtype=np.int64))
        self.seconds = int(len(samples_uv) / self.fs) if len(samples_uv) >= 2 * self.fs else 0
        """How many notifications the source holds (none for under 2 s)."""
        self._reset()

    def _reset(self) -> None:
        from monitor.signal.qrs import QrsDetector

        self._second = 0
        self._payload = b""
        self._last_bpm = 0
        self._times: deque[float] = deque()
        self._fed = 0
        self._next_given = 0
        self._detector = QrsDetector(self.fs) if self._given is None else None
        self._flushed = False

    @property
    def samples_analysed(self) -> int:
        """How far into the source the detector has read (the whole source when peaks
        were given, as they cost nothing to look up)."""
        return self._fed if self._detector is not None else len(self._samples)

    @property
    def peaks_kept(self) -> int:
        return len(self._times)

    def from_second(self, first: int = 1) -> Iterator[tuple[float, bytes]]:
        """(second, notification bytes) for every second from `first` to the end."""
        for second in range(max(1, first), self.seconds + 1):
            yield float(second), self.notification(second)

    def notification(self, second: int) -> bytes:
        """The notification sent `second` seconds after the heart-rate stream started."""
        if second < self._second:
            self._reset()
        while self._second < second:
            self._second += 1
            self._payload = self._compute(self._second)
        return self._payload

    def _compute(self, second: int) -> bytes:
        self._take_peaks_until(second)
        times = np.fromiter(self._times, dtype=np.float64, count=len(self._times))
        lo = int(np.searchsorted(times, second - 1, side="right"))
        hi = int(np.searchsorted(times, second, side="right"))
        rr = [times[i] - times[i - 1] for i in range(lo, hi) if i > 0]
        recent_lo = int(np.searchsorted(times, second - BPM_WINDOW_S, side="right"))
        recent = np.diff(times[recent_lo:hi])
        bpm = round(60.0 / float(np.mean(recent))) if len(recent) else self._last_bpm
        self._last_bpm = bpm
        self._forget_before(second - BPM_WINDOW_S)
        rr_1024 = tuple(max(1, min(0xFFFF, round(v * 1024))) for v in rr)
        return hrs.encode_heart_rate(hrs.HeartRateMeasurement(min(bpm, 255), rr_1024=rr_1024))

    def _forget_before(self, t: float) -> None:
        """Keep the peaks after t, and the one before them (the RR of the next beat)."""
        times = self._times
        while len(times) >= 2 and times[1] <= t:
            times.popleft()

    def _take_peaks_until(self, second: int) -> None:
        """Every R-peak at or before `second` is in `_times` (and possibly a few after)."""
        if self._given is not None:
            peaks = self._given
            # a second ahead: the boundary is then decided on times, as for detected peaks
            end = int(np.searchsorted(peaks, (second + 1) * self.fs, side="right"))
            self._times.extend((peaks[self._next_given : end] / self.fs).tolist())
            self._next_given = max(self._next_given, end)
            return
        detector = self._detector
        assert detector is not None
        # a beat is reported at most delay_s after it, the first ones after the warm-up
        horizon = round((second + detector.delay_s + 4.0) * self.fs)
        chunk = max(1, round(CHUNK_S * self.fs))
        while self._fed < min(horizon, len(self._samples)):
            part = self._samples[self._fed : self._fed + chunk].astype(np.float64)
            self._fed += part.size
            self._times.extend((detector.process(part) / self.fs).tolist())
        if self._fed >= len(self._samples) and not self._flushed:
            self._flushed = True
            self._times.extend((detector.flush() / self.fs).tolist())
