"""ORACLE: the streaming QRS detector exactly as it was on main e33be0c, kept to prove
that the faster `monitor.signal.qrs` gives the same R-peaks (tests/signal/test_qrs_equivalence.py).

Do not optimise or "fix" this file: its only job is to stay what it was. It carries its
own copies of the input guard and the streaming SOS filter of that time, so later
changes to monitor/signal/filters.py or sanitise.py cannot move the oracle along.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from monitor.signal.filters import bandpass_sos, check_fs
from monitor.signal.sanitise import PHYSICAL_LIMIT_UV

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


def _sanitise(x: np.ndarray, last: float, limit_uv: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or (x.max() <= limit_uv and x.min() >= -limit_uv):
        return x, np.zeros(x.shape, dtype=bool)
    bad = ~np.isfinite(x)
    with np.errstate(invalid="ignore"):
        y = np.clip(x, -limit_uv, limit_uv)
    changed = bad | (y != x)
    if bad.any():
        good = np.flatnonzero(~bad)
        lead = int(good[0]) if good.size else x.size
        idx = np.where(bad, 0, np.arange(x.size))
        np.maximum.accumulate(idx, out=idx)
        y[lead:] = y[idx[lead:]]
        y[:lead] = float(np.clip(last, -limit_uv, limit_uv))
    return y, changed


class InputGuard:
    def __init__(self, limit_uv: float = PHYSICAL_LIMIT_UV) -> None:
        self.limit_uv = float(limit_uv)
        self._last = 0.0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        y, _ = _sanitise(np.asarray(chunk, dtype=np.float64), self._last, self.limit_uv)
        if y.size:
            self._last = float(y[-1])
        return y


class StreamingSosFilter:
    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.asarray(sos, dtype=np.float64)
        self._zi: np.ndarray | None = None
        self.guard = InputGuard()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        x = self.guard.process(chunk)
        if x.size == 0:
            return np.empty(0)
        if self._zi is None:
            self._zi = signal.sosfilt_zi(self.sos) * x[0]
        y, self._zi = signal.sosfilt(self.sos, x, zi=self._zi)
        return np.asarray(y)


@dataclass
class _Levels:
    """Running estimates of QRS and noise peak heights of the integrated feature."""

    signal_peak: float = 0.0
    noise_peak: float = 0.0

    @property
    def threshold(self) -> float:
        return self.noise_peak + 0.25 * (self.signal_peak - self.noise_peak)


@dataclass
class _Candidate:
    index: int  # sample index of the feature peak
    height: float  # integrated feature at the peak
    slope: float  # steepest band-passed slope in the integration window
    accepted: bool = False


@dataclass
class _RRHistory:
    """The last eight RR intervals, all and 'regular' ones (Pan-Tompkins RR limits)."""

    recent: deque[float] = field(default_factory=lambda: deque(maxlen=8))
    regular: deque[float] = field(default_factory=lambda: deque(maxlen=8))

    def add(self, rr: float) -> None:
        self.recent.append(rr)
        if not self.regular:
            self.regular.append(rr)
            return
        mean = sum(self.regular) / len(self.regular)
        if 0.92 * mean <= rr <= 1.16 * mean:
            self.regular.append(rr)
        elif len(self.recent) == self.recent.maxlen:
            # The rhythm has changed for good (8 beats): follow it.
            self.regular.clear()
            self.regular.extend(self.recent)

    def expected(self) -> float | None:
        if not self.regular:
            return None
        return sum(self.regular) / len(self.regular)


class ReferenceQrsDetector:
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
        # Buffers over absolute indices [self._buf_start, self._n).
        self._buf_start = 0
        self._feature = np.empty(0)
        self._slope = np.empty(0)
        self._located = np.empty(0)
        self._slope_tail = np.zeros(0)  # last win-1 slope inputs
        self._scan_from = 0  # first index not yet checked for a candidate
        self._pending: list[_Candidate] = []  # confirmed, awaiting the warm-up
        self._recent: deque[_Candidate] = deque()  # judged candidates since the last beat
        self._levels = _Levels()
        self._learnt = False
        self._rr = _RRHistory()
        self._last_beat: _Candidate | None = None
        self._relax_from: int | None = None  # where stale levels start to be lowered
        self._searched = False  # search-back already done since the last beat

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
        band = self._bandpass.process(x)
        prev = band[0] if self._prev_band is None else self._prev_band
        deriv = np.diff(band, prepend=prev) * self.fs
        self._prev_band = float(band[-1])
        energy = np.abs(deriv)
        feature, self._mwi_zi = signal.lfilter(self._mwi_b, 1.0, energy, zi=self._mwi_zi)
        # Steepest slope over the integration window ending at each sample.
        slope_src = np.concatenate([self._slope_tail, np.abs(deriv)])
        slope = _trailing_max(slope_src, self._win)[slope_src.size - x.size :]
        self._slope_tail = slope_src[slope_src.size - (self._win - 1) :]
        located = self._locator.process(x)
        self._feature = np.concatenate([self._feature, feature])
        self._slope = np.concatenate([self._slope, slope])
        self._located = np.concatenate([self._located, located])
        self._n += x.size

    def _at(self, buf: np.ndarray, i: int) -> float:
        return float(buf[i - self._buf_start])

    # -- decisions (per candidate) ----------------------------------------------------

    def _find_candidates(self, final: bool) -> list[_Candidate]:
        """Feature peaks that are the largest within CONFIRM_S on both sides."""
        r = self._confirm
        end = self._n if final else self._n - r  # candidates are confirmed up to here (excl.)
        start = max(self._scan_from, 1)
        if end <= start:
            return []
        lo = max(start - r - 1, self._buf_start)
        seg = self._feature[lo - self._buf_start : min(end + r, self._n) - self._buf_start]
        # Outside the data (stream start, or the end at flush) counts as -inf.
        window_max = ndimage.maximum_filter1d(seg, 2 * r + 1, mode="constant", cval=-np.inf)
        rel = np.arange(start - lo, end - lo)
        rising = seg[rel] > seg[rel - 1]
        ok = (seg[rel] >= window_max[rel]) & rising & (seg[rel] > FEATURE_FLOOR)
        self._scan_from = end
        return [
            _Candidate(int(k + lo), float(seg[k]), self._at(self._slope, int(k + lo)))
            for k in rel[ok]
        ]

    def _decide(self, final: bool) -> np.ndarray:
        beats: list[int] = []
        new = self._find_candidates(final)
        if not self._learnt:
            self._pending.extend(new)
            if self._n < self._learn and not final:
                return np.empty(0, dtype=np.int64)
            self._learn_levels()
            new, self._pending = self._pending, []
        horizon = self._n if final else self._n - self._confirm
        for cand in new:
            self._search_back(until=cand.index, beats=beats)
            self._judge(cand, beats)
        self._search_back(until=self._n + self._search_late if final else horizon - 1, beats=beats)
        self._trim()
        return np.asarray(beats, dtype=np.int64)

    def _learn_levels(self) -> None:
        seg = self._feature[: max(1, min(self._learn, self._feature.size))]
        if seg.size == 0:  # flushed before any sample arrived
            self._levels = _Levels()
        else:
            self._levels = _Levels(
                signal_peak=float(seg.max()) / 3.0, noise_peak=float(seg.mean()) / 2.0
            )
        self._learnt = True
        self._relax_from = self._learn + self._silence

    def _relax_levels(self, index: int) -> None:
        """Lower stale levels during a long silence (decided in sample time)."""
        anchor = self._relax_from
        if anchor is None or index < anchor:
            return
        steps = 1 + (index - anchor) // self._relearn_halving
        lv = self._levels
        lv.signal_peak *= 0.5**steps
        lv.noise_peak = min(lv.noise_peak, 0.5 * lv.signal_peak)
        self._relax_from = anchor + steps * self._relearn_halving

    def _judge(self, cand: _Candidate, beats: list[int]) -> None:
        self._relax_levels(cand.index)
        last = self._last_beat
        if last is not None and cand.index - last.index < self._refractory:
            return
        is_beat = cand.height > self._levels.threshold
        if is_beat and last is not None and cand.index - last.index < self._t_wave:
            # A T wave has a much gentler slope than the QRS before it.
            is_beat = cand.slope >= 0.5 * last.slope
        if is_beat:
            self._accept(cand, beats, weight=0.125)
        else:
            lv = self._levels
            lv.noise_peak = 0.125 * cand.height + 0.875 * lv.noise_peak
            self._recent.append(cand)

    def _search_back(self, until: int, beats: list[int]) -> None:
        """At the time fixed by the last beat and the RR history, look back for a missed beat.

        The trigger is 1.66 expected RR intervals after the last beat (Pan-Tompkins), but
        never more than SEARCH_BACK_LATE_S after the expected beat, and only the last
        SEARCH_BACK_WINDOW_S before the trigger are searched, so the stated delay holds.
        Only candidates above half the threshold, out of the T-wave zone and with a
        QRS-like slope qualify; the largest wins.
        """
        while self._last_beat is not None and not self._searched:
            expected = self._rr.expected()
            if expected is None:
                return
            wait = min(1.66 * expected, expected + self._search_late)
            trigger = self._last_beat.index + round(wait)
            if trigger > until:
                return
            last = self._last_beat
            earliest = max(
                last.index + max(self._t_wave, round(0.5 * expected)),
                trigger - self._search_window,
            )
            pool = [
                c
                for c in self._recent
                if earliest <= c.index <= trigger
                and c.height > 0.5 * self._levels.threshold
                and c.slope >= 0.5 * last.slope
            ]
            if not pool:
                self._searched = True  # until the next beat
                return
            best = max(pool, key=lambda c: c.height)
            self._accept(best, beats, weight=0.25)

    def _accept(self, cand: _Candidate, beats: list[int], weight: float) -> None:
        cand.accepted = True
        lv = self._levels
        lv.signal_peak = weight * cand.height + (1 - weight) * lv.signal_peak
        if self._last_beat is not None:
            self._rr.add(float(cand.index - self._last_beat.index))
        self._last_beat = cand
        self._relax_from = cand.index + self._silence
        self._searched = False
        self._recent.clear()
        beats.append(self._locate_r(cand.index))

    def _locate_r(self, feature_index: int) -> int:
        """Place the R-peak at the largest deflection of the 1-30 Hz signal near the QRS."""
        centre = feature_index - self._feature_lag
        lo = max(centre - self._locate, self._buf_start)
        hi = min(centre + self._locate + 1, self._n)
        if hi <= lo:
            return max(centre, 0)
        seg = self._located[lo - self._buf_start : hi - self._buf_start]
        return lo + int(np.abs(seg).argmax())

    def _trim(self) -> None:
        keep_from = self._n - self._history
        if self._last_beat is not None:
            keep_from = min(keep_from, self._last_beat.index - self._locate)
        keep_from = min(
            keep_from, self._scan_from - self._confirm - self._locate - self._feature_lag
        )
        drop = keep_from - self._buf_start
        if drop > self._history:  # trim in large steps: fewer copies
            self._feature = self._feature[drop:]
            self._slope = self._slope[drop:]
            self._located = self._located[drop:]
            self._buf_start = keep_from


def _trailing_max(x: np.ndarray, size: int) -> np.ndarray:
    """out[i] = max(x[max(0, i - size + 1) : i + 1])."""
    if size <= 1:
        return x.copy()
    centred = ndimage.maximum_filter1d(x, size, mode="constant", cval=-np.inf)
    shift = min((size - 1) // 2, x.size)
    out = np.empty_like(x)
    out[shift:] = centred[: x.size - shift]
    out[:shift] = np.maximum.accumulate(x[:shift])
    return out


def _group_delay_s(sos: np.ndarray, fs: float, at_hz: float) -> float:
    """Group delay of an SOS filter at one frequency, in seconds."""
    b, a = signal.sos2tf(sos)
    _, gd = signal.group_delay((b, a), w=[at_hz], fs=fs)
    return float(gd[0]) / fs


def reference_detect_qrs(samples: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices of a whole recording, exactly as the stream would give them."""
    detector = ReferenceQrsDetector(fs)
    found = detector.process(samples)
    return np.concatenate([found, detector.flush()]).astype(np.int64)
