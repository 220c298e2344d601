"""Streaming QRS detection with a bounded, stated delay.

The detector follows the Pan-Tompkins family (band-pass, derivative, squaring,
moving-window integration, adaptive signal/noise thresholds, T-wave rejection and
search-back), rewritten so that every decision is made at a fixed point in sample
time: a candidate is judged as soon as `CONFIRM_S` of signal after it has arrived,
and a search-back happens at a time fixed by the last beat and the RR history, never
by the chunk boundaries. Hence:

* the output is identical whatever the chunk sizes (the filters carry exact state,
  and no decision looks at more data than its fixed horizon);
* each R-peak is reported at most `QrsDetector.delay_s` after it happened (0.98 s at
  130 Hz; about 0.4 s for beats above the threshold, longer only for beats found by
  search-back); the first beats wait for the `LEARN_S` warm-up.

Feature work is vectorised per chunk with numpy/scipy, and kept to a fixed handful
of array operations per call (scipy's SOS kernel without `sosfilt`'s argument
handling, the integration as one convolution, running maxima by doubling windows,
history in preallocated rows), because a live strap calls it for every 73-sample
notification. Only the per-candidate decisions (a few per beat) run in Python, in one
loop over plain tuples with the detector's state in locals; R-peaks are placed for
all the beats of a call at once. tests/signal/test_qrs_equivalence.py proves the
R-peaks are exactly those of the slower detector this one replaced.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import signal

from monitor.signal.filters import StreamingSosFilter, bandpass_sos, check_fs
from monitor.signal.sanitise import InputGuard

QRS_BAND_HZ = (5.0, 18.0)
"""Where the QRS complex has most of its energy and P/T waves and wander have little."""
INTEGRATION_S = 0.12
"""Moving-window integration length: about the width of a wide QRS."""
CONFIRM_S = 0.20
"""A feature peak is a candidate once it is the largest within this distance both sides."""
FEATURE_FLOOR = 100.0
"""Smallest feature peak (uV/s of band-passed slope, integrated) that can be a QRS:
about a 6 uV complex, far below any real beat, but above the rounding residue of
a flat line, so an adaptive threshold never learns from nothing."""
REFRACTORY_S = 0.20
"""No two beats closer than this (the myocardium cannot re-depolarise sooner)."""
T_WAVE_S = 0.36
"""A candidate this soon after a beat with a much smaller slope is taken for a T wave."""
SILENCE_S = 3.0
"""No beat for this long (longer than almost any pause): the learnt levels may be
stale, e.g. after a burst of artifact that was taken for huge beats."""
RELEARN_HALVING_S = 1.0
"""During such a silence the expected QRS level halves this often until beats are
found again, so detection always recovers."""
LEARN_S = 2.0
"""Signal and noise levels are learnt over the first seconds before any decision."""
SEARCH_BACK_LATE_S = 0.30
"""Search-back is triggered at most this long after the expected beat (Pan-Tompkins
waits 1.66 RR, which at slow rates would hold a beat back too long)."""
SEARCH_BACK_WINDOW_S = 0.60
"""Search-back only looks this far back from its trigger, which bounds the delay."""
LOCATE_S = 0.10
"""Half-width of the window in which the R-peak is placed on the ECG-filtered signal."""
HISTORY_S = 4.0
"""How much past signal is kept (search-back, localisation)."""


class _RRHistory:
    """The last eight RR intervals, all and 'regular' ones (Pan-Tompkins RR limits).

    RR intervals are whole numbers of samples, so a running sum is exact: `expected`
    (the mean regular RR) is kept up to date on `add`, never summed again.
    """

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=8)
        self.regular: deque[float] = deque(maxlen=8)
        self._total = 0.0  # sum of `regular`
        self.expected: float | None = None  # mean of `regular`, None before the first RR

    def add(self, rr: float) -> None:
        recent, regular = self.recent, self.regular
        recent.append(rr)
        mean = self.expected
        if mean is None or 0.92 * mean <= rr <= 1.16 * mean:
            if len(regular) == 8:
                self._total -= regular[0]
            regular.append(rr)
            self._total += rr
        elif len(recent) == 8:
            # The rhythm has changed for good (8 beats): follow it.
            regular.clear()
            regular.extend(recent)
            self._total = sum(recent)
        self.expected = self._total / len(regular)


_Candidate = tuple[int, float, float]
"""(sample index of the feature peak, integrated feature there, steepest band-passed
slope in its integration window). Plain tuples: a day holds ~130,000 candidates."""


class QrsDetector:
    """Streaming R-peak detector for one ECG lead at any rate from 100 to 1000 Hz.

    Feed raw samples (microvolts, any offset) with `process`; it returns the sample
    indices (counted from the first sample ever fed) of the R-peaks it has decided.
    Call `flush` at the end of a recording to decide what is still pending.
    Non-finite samples are held at the last finite value.
    """

    def __init__(self, fs: float) -> None:
        self.fs = check_fs(fs)
        fs = self.fs
        self._bandpass = StreamingSosFilter(bandpass_sos(fs, *QRS_BAND_HZ, order=2))
        self._locator = StreamingSosFilter(bandpass_sos(fs, 1.0, 30.0, order=2))
        self._win = max(1, round(INTEGRATION_S * fs))
        self._mwi_b = np.full(self._win, 1.0 / self._win)
        self._mwi_zi = np.zeros(self._win - 1)
        self._confirm = max(1, round(CONFIRM_S * fs))
        self._refractory = round(REFRACTORY_S * fs)
        self._t_wave = round(T_WAVE_S * fs)
        self._learn = round(LEARN_S * fs)
        self._silence = round(SILENCE_S * fs)
        self._relearn_halving = round(RELEARN_HALVING_S * fs)
        self._search_late = round(SEARCH_BACK_LATE_S * fs)
        self._search_window = round(SEARCH_BACK_WINDOW_S * fs)
        self._locate = max(1, round(LOCATE_S * fs))
        self._history = round(HISTORY_S * fs)
        # Where the R-peak sits relative to the feature peak: the integration window
        # lags by half its length, the band-pass by its group delay near 10 Hz.
        self._feature_lag = self._win // 2 + round(
            _group_delay_s(self._bandpass.sos, fs, 10.0) * fs
        )

        self._guard = InputGuard()
        self._prev_band: float | None = None  # last band-passed sample, for the derivative
        self._n = 0  # samples seen
        # Kept history over absolute indices [self._buf_start, self._n): the integrated
        # feature, the trailing steepest slope and |1-30 Hz signal| (localisation).
        # They live in rows of one array with spare room, filled in place; rows may
        # still hold samples before _buf_start until the room is needed.
        self._buf_start = 0
        self._store = np.empty((3, max(256, 4 * self._history)))
        self._store_start = 0  # absolute index of column 0 (<= _buf_start)
        self._slope_tail = np.full(self._win - 1, -np.inf)  # last win-1 |slope| inputs
        self._scan_from = 0  # first index not yet checked for a candidate
        self._pending: list[_Candidate] = []  # confirmed, awaiting the warm-up
        self._recent: list[_Candidate] = []  # judged non-beats since the last beat
        self._signal_peak = 0.0  # running QRS peak height of the integrated feature
        self._noise_peak = 0.0  # running noise peak height
        self._learnt = False
        self._rr = _RRHistory()
        self._last_index: int | None = None  # feature index of the last beat
        self._last_slope = 0.0  # its slope
        self._relax_from: int | None = None  # where stale levels start to be lowered
        self._searched = False  # search-back already done since the last beat
        # Fixed by the last beat and the RR history (see _search_back); None: no search.
        self._trigger: int | None = None
        self._earliest = 0

    @property
    def delay_s(self) -> float:
        """Upper bound on the time from an R-peak to its report, after the warm-up.

        A beat is decided CONFIRM_S after its feature peak, which lags the R-peak by
        the filter and integration delay (plus the localisation window); a beat found
        by search-back waits at most SEARCH_BACK_WINDOW_S more.
        """
        worst = self._search_window + self._confirm + self._feature_lag + self._locate
        return worst / self.fs

    @property
    def samples_seen(self) -> int:
        return self._n

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed the next samples; return the R-peaks decided now (ascending indices)."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size:
            x = self._guard.process(x)  # the raw samples are kept for localisation
            self._extend(x)
        return self._decide(final=False)

    def flush(self) -> np.ndarray:
        """Decide every candidate still pending, as at the end of a recording."""
        return self._decide(final=True)

    # -- feature extraction (vectorised) -------------------------------------------

    def _extend(self, x: np.ndarray) -> None:
        n = x.size
        band = self._bandpass.process_guarded(x)
        # |derivative|: band[i] - band[i - 1], in uV/s (np.diff's arithmetic).
        energy = np.empty(n)
        energy[0] = band[0] - (band[0] if self._prev_band is None else self._prev_band)
        np.subtract(band[1:], band[:-1], out=energy[1:])
        energy *= self.fs
        np.abs(energy, out=energy)
        self._prev_band = float(band[-1])
        # Moving-window integration: lfilter(b, 1, energy, zi) with an FIR b is
        # np.convolve plus the carried state, which is exactly what scipy computes
        # for it (minus ~40 us of argument handling per call).
        full = np.convolve(self._mwi_b, energy)
        full[: self._win - 1] += self._mwi_zi
        self._mwi_zi = full[n:]
        # Steepest slope over the integration window ending at each sample; the tail
        # starts as -inf, so the first windows are the samples seen so far.
        slope_src = np.concatenate([self._slope_tail, energy])
        slope = _running_max(slope_src, self._win)
        self._slope_tail = slope_src[n:]
        located = self._locator.process_guarded(x)
        at = self._reserve(n)
        store = self._store
        store[0, at : at + n] = full[:n]
        store[1, at : at + n] = slope
        np.abs(located, out=store[2, at : at + n])
        self._n += n

    def _reserve(self, n: int) -> int:
        """Room for n more samples in the store; the column where they go."""
        used = self._n - self._store_start
        if used + n > self._store.shape[1]:
            keep = self._n - self._buf_start
            width = self._store.shape[1]
            if keep + n > width:  # more than the history: grow (rare; the start, flush)
                width = max(2 * width, keep + n)
            fresh = np.empty((3, width))
            fresh[:, :keep] = self._store[:, self._buf_start - self._store_start : used]
            self._store = fresh
            self._store_start = self._buf_start
            used = keep
        return used

    # -- decisions (per candidate) ----------------------------------------------------

    def _find_candidates(self, final: bool) -> list[_Candidate]:
        """Feature peaks that are the largest within CONFIRM_S on both sides."""
        r = self._confirm
        end = self._n if final else self._n - r  # candidates are confirmed up to here (excl.)
        start = max(self._scan_from, 1)
        if end <= start:
            return []
        lo = max(start - r - 1, self._buf_start)
        base = self._store_start
        seg = self._store[0, lo - base : min(end + r, self._n) - base]
        a, b = start - lo, end - lo
        # The largest value within r of each position; outside the data (stream start,
        # or the end at flush) counts as -inf.
        left, right = max(0, r - a), max(0, b + r - seg.size)
        around = seg[a - r + left : b + r - right]
        if left or right:
            around = np.concatenate([np.full(left, -np.inf), around, np.full(right, -np.inf)])
        here = seg[a:b]
        ok = (here >= _running_max(around, 2 * r + 1)) & (
            here > np.maximum(seg[a - 1 : b - 1], FEATURE_FLOOR)
        )
        self._scan_from = end
        rel = np.flatnonzero(ok)
        if rel.size == 0:
            return []
        heights = here[rel]
        rel += start
        slopes = self._store[1, rel - base]
        return list(zip(rel.tolist(), heights.tolist(), slopes.tolist(), strict=True))

    def _decide(self, final: bool) -> np.ndarray:
        accepted: list[int] = []  # feature indices of the beats, in order
        new = self._find_candidates(final)
        if not self._learnt:
            self._pending.extend(new)
            if self._n < self._learn and not final:
                return np.empty(0, dtype=np.int64)
            self._learn_levels()
            new, self._pending = self._pending, []
        horizon = self._n if final else self._n - self._confirm
        if new:
            self._judge_all(new, accepted)
        self._search_back(
            until=self._n + self._search_late if final else horizon - 1, beats=accepted
        )
        beats = self._locate_r(accepted)
        self._trim()
        return beats

    def _learn_levels(self) -> None:
        feature = self._store[0, : self._n - self._store_start]
        seg = feature[: max(1, min(self._learn, feature.size))]
        if seg.size == 0:  # flushed before any sample arrived
            self._signal_peak = self._noise_peak = 0.0
        else:
            self._signal_peak = float(seg.max()) / 3.0
            self._noise_peak = float(seg.mean()) / 2.0
        self._learnt = True
        self._relax_from = self._learn + self._silence

    def _judge_all(self, new: list[_Candidate], beats: list[int]) -> None:
        """Judge each candidate in turn, after any search-back due before it.

        The Pan-Tompkins rules, per candidate and in sample time:
        * during a long silence (SILENCE_S) the expected QRS level halves every
          RELEARN_HALVING_S, so detection always recovers from stale levels;
        * nothing within REFRACTORY_S of the last beat;
        * a beat is above the threshold between the noise and signal levels, and,
          within T_WAVE_S of the last beat, has at least half its slope (a T wave
          has a much gentler slope than the QRS before it);
        * a beat moves the signal level, anything else the noise level.
        The state lives in locals inside the loop (this runs ~130,000 times a day).
        """
        refractory, t_wave = self._refractory, self._t_wave
        halving = self._relearn_halving
        recent = self._recent
        signal_peak, noise_peak = self._signal_peak, self._noise_peak
        relax_from = self._relax_from
        last_index, last_slope = self._last_index, self._last_slope
        for cand in new:
            index, height, slope = cand
            trigger = self._trigger
            if trigger is not None and not self._searched and trigger <= index:
                self._signal_peak, self._noise_peak = signal_peak, noise_peak
                self._relax_from = relax_from
                self._search_back(until=index, beats=beats)
                signal_peak, noise_peak = self._signal_peak, self._noise_peak
                relax_from = self._relax_from
                last_index, last_slope = self._last_index, self._last_slope
                recent = self._recent
            if relax_from is not None and index >= relax_from:
                steps = 1 + (index - relax_from) // halving
                signal_peak *= 0.5**steps
                noise_peak = min(noise_peak, 0.5 * signal_peak)
                relax_from += steps * halving
            if last_index is not None and index - last_index < refractory:
                continue
            is_beat = height > noise_peak + 0.25 * (signal_peak - noise_peak)
            if is_beat and last_index is not None and index - last_index < t_wave:
                is_beat = slope >= 0.5 * last_slope
            if is_beat:
                signal_peak = 0.125 * height + (1 - 0.125) * signal_peak
                if last_index is not None:
                    self._rr.add(float(index - last_index))
                last_index, last_slope = index, slope
                relax_from = index + self._silence
                self._searched = False
                recent = self._recent = []
                self._last_index, self._last_slope = index, slope
                self._set_trigger()
                beats.append(index)
            else:
                noise_peak = 0.125 * height + 0.875 * noise_peak
                recent.append(cand)
        self._signal_peak, self._noise_peak = signal_peak, noise_peak
        self._relax_from = relax_from

    def _set_trigger(self) -> None:
        """When to search back after the last beat, and from where.

        The trigger is 1.66 expected RR intervals after the last beat (Pan-Tompkins), but
        never more than SEARCH_BACK_LATE_S after the expected beat, and only the last
        SEARCH_BACK_WINDOW_S before the trigger are searched, so the stated delay holds.
        Both change only with a new beat, so they are worked out once per beat.
        """
        expected = self._rr.expected
        last = self._last_index
        if expected is None or last is None:
            self._trigger = None
            return
        wait = min(1.66 * expected, expected + self._search_late)
        trigger = last + round(wait)
        self._trigger = trigger
        self._earliest = max(
            last + max(self._t_wave, round(0.5 * expected)),
            trigger - self._search_window,
        )

    def _search_back(self, until: int, beats: list[int]) -> None:
        """At the time fixed by the last beat and the RR history, look back for a missed beat.

        Only candidates above half the threshold, out of the T-wave zone and with a
        QRS-like slope qualify; the largest wins (the first of equals).
        """
        while True:
            trigger, earliest = self._trigger, self._earliest
            if trigger is None or self._searched or trigger > until:
                return
            half = 0.5 * (self._noise_peak + 0.25 * (self._signal_peak - self._noise_peak))
            min_slope = 0.5 * self._last_slope
            best: _Candidate | None = None
            for cand in self._recent:
                index, height, slope = cand
                if (
                    earliest <= index <= trigger
                    and height > half
                    and slope >= min_slope
                    and (best is None or height > best[1])
                ):
                    best = cand
            if best is None:
                self._searched = True  # until the next beat
                return
            index, height, slope = best
            self._signal_peak = 0.25 * height + (1 - 0.25) * self._signal_peak
            if self._last_index is not None:
                self._rr.add(float(index - self._last_index))
            self._last_index, self._last_slope = index, slope
            self._relax_from = index + self._silence
            self._searched = False
            self._recent = []
            self._set_trigger()
            beats.append(index)

    def _locate_r(self, feature_indices: list[int]) -> np.ndarray:
        """Place each R-peak at the largest deflection of the 1-30 Hz signal near its QRS
        (the first of equals), within LOCATE_S of where the feature puts it."""
        out = np.empty(len(feature_indices), dtype=np.int64)
        if not feature_indices:
            return out
        reach, base, magnitude = self._locate, self._store_start, self._store[2]
        lag, first, n = self._feature_lag, self._buf_start, self._n
        if len(feature_indices) >= 4:  # a replay chunk: whole windows in one gather
            starts = np.asarray(feature_indices, dtype=np.int64) - (lag + reach)
            whole = np.flatnonzero((starts >= first) & (starts + 2 * reach < n))
            windows = (starts[whole] - base)[:, None] + np.arange(2 * reach + 1)
            out[whole] = starts[whole] + magnitude[windows].argmax(axis=1)
            if whole.size == out.size:
                return out
            done = set(whole.tolist())
        else:
            done = set()
        for k, feature_index in enumerate(feature_indices):
            if k in done:
                continue
            centre = feature_index - lag
            lo = max(centre - reach, first)
            hi = min(centre + reach + 1, n)
            if hi <= lo:
                out[k] = max(centre, 0)
            else:
                out[k] = lo + int(magnitude[lo - base : hi - base].argmax())
        return out

    def _trim(self) -> None:
        """Forget what no decision can look at again (in steps of HISTORY_S)."""
        keep_from = self._n - self._history
        if self._last_index is not None:
            keep_from = min(keep_from, self._last_index - self._locate)
        keep_from = min(
            keep_from, self._scan_from - self._confirm - self._locate - self._feature_lag
        )
        if keep_from - self._buf_start > self._history:
            self._buf_start = keep_from


def _running_max(x: np.ndarray, size: int) -> np.ndarray:
    """out[i] = max(x[i : i + size]) for every full window (x.size - size + 1 values).

    Doubling windows (1, 2, 4, ... samples, then two overlapping ones for the rest):
    log2(size) vectorised steps, several times faster than a general running-max
    filter on these short windows; a maximum is exact, so the values are the same.
    """
    out = x
    span = 1
    while 2 * span <= size:
        out = np.maximum(out[:-span], out[span:])
        span *= 2
    if span < size:
        out = np.maximum(out[: out.size - (size - span)], out[size - span :])
    return out


def _group_delay_s(sos: np.ndarray, fs: float, at_hz: float) -> float:
    """Group delay of an SOS filter at one frequency, in seconds."""
    b, a = signal.sos2tf(sos)
    _, gd = signal.group_delay((b, a), w=[at_hz], fs=fs)
    return float(gd[0]) / fs


def detect_qrs(samples: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices of a whole recording, exactly as the stream would give them."""
    detector = QrsDetector(fs)
    found = detector.process(samples)
    return np.concatenate([found, detector.flush()]).astype(np.int64)
