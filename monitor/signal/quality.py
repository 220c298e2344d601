"""Per-second signal-quality index: can this second of ECG be analysed at all?

Every downstream finding (beats, rhythms, alerts) is only as good as the signal under
it, so each second of the stream gets a verdict and, when it is unreadable, the
reason a patient can act on:

* ``no signal``: samples missing (NaN) for most of the second;
* ``flat line (leads off?)``: almost no voltage change, as when an electrode is off;
* ``saturation``: the amplifier sits at a rail (clipped trace);
* ``baseline wander``: the baseline moves by millivolts within a second (the strap
  is moving or the electrode contact changes);
* ``noise``: the QRS complexes no longer stand out of the background.

The noise measures follow the signal-quality indices of Li, Mark and Clifford,
"Robust heart rate estimation from multiple asynchronous noisy sources using signal
quality indices and a Kalman filter", Physiol. Meas. 29:15-32 (2008): kurtosis of
the band-passed ECG (kSQI; clean ECG is strongly peaked, noise is close to Gaussian)
and the share of power inside the QRS band (pSQI). We add a peak-to-background ratio
of the QRS-band envelope: in clean ECG the QRS occupies about a tenth of the time,
so the median envelope is a small fraction of its high percentile; under
electrode-motion or muscle noise the two converge. Its limit follows the patient
(``ADAPT_FACTOR``): in leads other than MLII a small QRS under a large T wave, or
flutter/AF waves, fill the QRS band all the time (203's V1: 86% of clean time was
unreadable with a fixed limit), whereas noise comes in episodes; so, once a stream
has a minute of history, the limit is a factor times the stream's own low level
(20th percentile of its last 5 minutes), never below the fixed limit.

Noise is judged over a window centred on each second (``CONTEXT_S`` each side), so a
verdict is issued ``delay_s`` after the second ends. The stage is streaming and pure:
chunking never changes the verdicts (filters carry state; each verdict depends only on
a fixed span of samples). The thresholds were set on DS1 records of MIT-BIH mixed
with the NSTDB noise-only recordings by scripts/tune_quality.py, never on the
NSTDB 118/119 test records the evaluation reports.

Speed: the stage runs on every second of every stream, so it works on whole chunks at
once. Each complete second of a chunk is measured in one pass of array operations (the
filters over the whole chunk, per-second reductions on a seconds x samples view), and
every second whose window is complete is judged in blocks of windows. Only the first
two seconds of a stream and the seconds judged by `flush` (shorter windows) take the
one-window path. Both paths compute the same measures the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite

import numpy as np
from scipy import signal

from monitor.signal.filters import ECG_BAND_HZ, bandpass_sos, check_fs
from monitor.signal.rounding import round_like_python
from monitor.signal.sosbank import SosBank

BAND_HZ = ECG_BAND_HZ
"""The band the kurtosis, flat-line and power measures read: the runtime ECG filter's,
so the pipeline's filtered trace can be handed over instead of filtered again."""
FLAT_PTP_UV = 20.0
"""A second whose band-passed peak-to-peak is below this holds no ECG (MIT-BIH
quantisation is 5 uV, the H10's about 1 uV; a P wave alone is ~100 uV)."""
SATURATION_RUN_S = 0.08
"""A clipped trace holds one value at its extreme for at least this long (no real
ECG waveform is exactly constant at its peak for 80 ms)."""
WANDER_PTP_UV = 3000.0
"""Baseline (below 0.7 Hz) moving more than this within one second: motion, not ECG."""
CONTEXT_S = 2
"""Seconds of context each side of the judged second for the noise measures."""
KURTOSIS_MIN = 3.5
"""kSQI: below this kurtosis (3 for Gaussian noise) the band-passed trace is
noise-like (Li et al. 2008 treat kurtosis > 5 as clean ECG); used with a looser
peak ratio (PEAK_RATIO_LOOSE)."""
PEAK_RATIO_MAX = 0.12
"""Median / 98th percentile of the QRS-band envelope above this: QRS do not stand out
(the limit at the start of a stream, and the least limit; see ADAPT_FACTOR).
On DS1 records (clean 95th percentile 0.106) mixed with NSTDB `em` noise this marks
1.1% of clean seconds and 63% / 83% of noisy seconds at 0 / -6 dB (tune_quality.py)."""
PEAK_RATIO_LOOSE = 0.10
"""With kurtosis below KURTOSIS_MIN the peak ratio limit is this much lower
(PEAK_RATIO_MAX - PEAK_RATIO_LOOSE below the limit in force)."""
PEAK_RATIO_CAP = 0.3
"""The peak-ratio limit never rises above this, whatever the stream's level: a second
over it is noise (2.5 times PEAK_RATIO_MAX)."""
ADAPT_FACTOR = 1.3
"""The peak-ratio limit is this times the stream's own level (see ADAPT_PERCENTILE),
within [PEAK_RATIO_MAX, PEAK_RATIO_CAP] (0: always PEAK_RATIO_MAX). A small QRS under
large T waves, or flutter/AF waves in the QRS band, keep the ratio high all the time,
while noise comes and goes. Chosen on DS1 + NSTDB noise-only recordings as the factor
with the least clean and AF time unreadable (MLII and second lead) among those that
add no false alarm at 12 or 6 dB (em, ma, bw; reference and model labels): 1.5 and
1.7 each added one (215, em 6 dB, model labels), 2.0 two (203, ma, reference labels);
scripts/tune_rhythm.py noise --quality ADAPT_FACTOR=..."""
ADAPT_PERCENTILE = 20.0
"""The stream's level: this percentile (an order statistic) of the peak ratios of its
last ADAPT_WINDOW_S seconds with a signal. A low percentile, so noise has to fill
four fifths of the window before it moves the level (NSTDB's noise fills at most
three fifths of any 5 minutes)."""
ADAPT_WINDOW_S = 300
ADAPT_MIN_S = 60
"""Seconds with a signal a stream needs before it has a level (until then, and after
every new stream, the limit is PEAK_RATIO_MAX)."""
ADAPT_EVERY_S = 10
"""The level is taken anew every this many seconds of the stream (at fixed second
numbers, so chunking does not change it); it moves slowly, and once per second would
cost a partition of ADAPT_WINDOW_S values per second."""
QRS_BAND_HZ = (5.0, 18.0)
"""The band of the envelope the peak ratio reads: where the QRS has its energy. Motion
noise (`em`) has much energy here too, which is what lets the ratio see it; so do
large T waves and AF/flutter waves in V1, which is why the ratio calls much clean V1
unreadable (tune_quality.py --second-lead; a higher band trades noise detection
for it, it does not remove the conflict)."""
HF_SHARE_MAX = 0.35
"""Share of band power above 35 Hz above this: muscle noise dominates."""
MISSING_SHARE_MAX = 0.5
"""More than this share of non-finite samples: the second has no signal."""
PEAK_PERCENTILE = 98.0
"""The envelope's high percentile in the peak ratio (linear interpolation, as numpy)."""

REASONS: tuple[str, ...] = (
    "no signal",
    "flat line (leads off?)",
    "saturation",
    "baseline wander",
    "noise",
)

WINDOW_S = 2 * CONTEXT_S + 1
MEASURE_BLOCK = 600
"""Seconds measured per pass: a whole recording fed at once is measured 10 minutes at
a time, so memory stays a few MB however long the chunk (a day is 90 MB per array)."""
JUDGE_BLOCK = 64
"""Windows judged per array pass: 64 windows of 5 s at 130 Hz are 330 kB per array,
small enough to stay in cache (large temporaries cost more in page faults than in
arithmetic)."""


@dataclass(frozen=True)
class QualitySecond:
    """The verdict on one second of the stream.

    index: the second's number from the start of the stream (it covers
        [index, index + 1) seconds).
    readable: whether beats and rhythms may be derived from it.
    reason: one of REASONS when unreadable, else None.
    kurtosis, peak_ratio, hf_share: the noise measures (for display and evaluation).
    """

    index: int
    readable: bool
    reason: str | None
    kurtosis: float
    peak_ratio: float
    hf_share: float

    @property
    def start_s(self) -> float:
        return float(self.index)


@dataclass(frozen=True)
class _Seconds:
    """Features of consecutive seconds, one row (or element) per second."""

    missing: np.ndarray  # share of non-finite samples
    flat: np.ndarray  # bool
    saturated: np.ndarray  # bool
    wander: np.ndarray  # bool
    band: np.ndarray  # (seconds, samples) 0.5-40 Hz
    envelope: np.ndarray  # (seconds, samples) |QRS band|, each second's top values last
    hf_power: np.ndarray
    band_power: np.ndarray

    def __len__(self) -> int:
        return int(self.missing.size)

    def rows(self, start: int, stop: int | None = None) -> _Seconds:
        s = slice(start, stop)
        return _Seconds(
            self.missing[s],
            self.flat[s],
            self.saturated[s],
            self.wander[s],
            self.band[s],
            self.envelope[s],
            self.hf_power[s],
            self.band_power[s],
        )

    @staticmethod
    def join(a: _Seconds, b: _Seconds) -> _Seconds:
        if not len(a):
            return b
        return _Seconds(
            *(np.concatenate([x, y]) for x, y in zip(_fields(a), _fields(b), strict=True))
        )


def _fields(s: _Seconds) -> tuple[np.ndarray, ...]:
    return (
        s.missing,
        s.flat,
        s.saturated,
        s.wander,
        s.band,
        s.envelope,
        s.hf_power,
        s.band_power,
    )


def _empty_seconds(per_second: int) -> _Seconds:
    none = np.empty(0)
    no = np.empty(0, dtype=bool)
    rows = np.empty((0, per_second))
    return _Seconds(none, no, no, no, rows, rows, none, none)


@dataclass(frozen=True)
class _Measures:
    """The noise measures of a run of windows (one element per judged second)."""

    kurtosis: np.ndarray
    peak_ratio: np.ndarray
    hf_share: np.ndarray


class SignalQuality:
    """Streaming per-second quality verdicts for one ECG lead (samples in uV).

    first_index: the index of the stream's first second (a stream restarted after a
        gap can count on from where the previous one stopped).
    """

    def __init__(self, fs: float, first_index: int = 0) -> None:
        self.fs = check_fs(fs)
        self._per_second = round(self.fs)
        if abs(self._per_second - self.fs) > 1e-9:
            raise ValueError("signal quality needs an integer sample rate (use the working rate)")
        self._first_index = int(first_index)
        hf_low = min(35.0, 0.35 * self.fs)
        self._sections = [
            bandpass_sos(self.fs, *BAND_HZ, order=2),  # band
            bandpass_sos(self.fs, *QRS_BAND_HZ, order=2),  # QRS band (envelope)
            bandpass_sos(self.fs, hf_low, 0.49 * self.fs, order=2),  # high frequencies
            _lowpass_sos(self.fs, 0.7),  # baseline
        ]
        self._filters = SosBank(self._sections)
        # Whether the band comes with the samples (see `process`): decided by the
        # stream's first samples.
        self._given_band: bool | None = None
        self._pending_band = np.empty(0)
        self._min_run = SATURATION_RUN_S * self.fs
        self._top = _top_count(WINDOW_S * self._per_second, PEAK_PERCENTILE)
        self._pending = np.empty(0)
        self._last_finite = 0.0
        self._run_value = np.nan
        self._run_length = 0
        # Measured seconds [self._first_kept, self._next_feature): the seconds not yet
        # judged and the CONTEXT_S seconds before them.
        self._kept = _empty_seconds(self._per_second)
        self._first_kept = 0
        self._next_feature = 0  # index of the next second whose features are computed
        self._next_verdict = 0  # index of the next second to judge
        # Peak ratios of the last ADAPT_WINDOW_S judged seconds with a signal.
        self._history: list[float] = []
        self._limit = PEAK_RATIO_MAX  # the peak-ratio limit in force

    @property
    def delay_s(self) -> float:
        """How long after a second ends its verdict is issued."""
        return float(CONTEXT_S)

    def process(self, chunk: np.ndarray, band: np.ndarray | None = None) -> list[QualitySecond]:
        """Feed samples; return the verdicts of every second now judged.

        band: optionally, the same samples through the ECG filter
        (`monitor.signal.filters.ecg_filter`, started on this stream's first sample),
        which is this stage's 0.5-40 Hz band to the bit (the same sections, input guard
        and settled state): the pipeline filters every chunk for the classifier anyway,
        so the stage need not filter it again. A stream gives it with every chunk or
        with none.
        """
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size:
            self._take_band(x.size, band)
            self._pending = np.concatenate([self._pending, x]) if self._pending.size else x
        n = self._pending.size // self._per_second
        if n == 0:
            return []
        cut = n * self._per_second
        whole = self._pending[:cut]
        self._pending = self._pending[cut:].copy()
        whole_band: np.ndarray | None = None
        if self._given_band:
            whole_band = self._pending_band[:cut]
            self._pending_band = self._pending_band[cut:].copy()
        out: list[QualitySecond] = []
        for first in range(0, n, MEASURE_BLOCK):
            span = slice(first * self._per_second, (first + MEASURE_BLOCK) * self._per_second)
            block_band = whole_band[span] if whole_band is not None else None
            self._append(self._measure(whole[span], self._per_second, block_band))
            ready = self._next_feature - CONTEXT_S
            while self._next_verdict < min(ready, CONTEXT_S):  # start of the stream
                out.append(self._judge_one(final=False))
            if self._next_verdict < ready:
                out += self._judge_full(ready)
            self._forget()
        return out

    def flush(self) -> list[QualitySecond]:
        """Judge the seconds still waiting for right-hand context (end of a recording).

        Flush ends the stream: use a new stage for the next one.

        A trailing partial second is judged on what there is when it holds at least
        half a second of samples; shorter tails are dropped.
        """
        out: list[QualitySecond] = []
        tail: _Seconds | None = None
        if self._pending.size >= self._per_second // 2:
            tail_band = self._pending_band if self._given_band else None
            tail = self._measure(self._pending, self._pending.size, tail_band)
        self._pending = np.empty(0)
        self._pending_band = np.empty(0)
        end = self._next_feature + (1 if tail is not None else 0)
        while self._next_verdict < end:
            out.append(self._judge_one(final=True, tail=tail))
        self._next_feature = self._next_verdict  # the stream ends here
        self._kept = _empty_seconds(self._per_second)
        self._first_kept = self._next_verdict
        self._history = []
        self._limit = PEAK_RATIO_MAX
        return out

    # -- measurement ------------------------------------------------------------------

    def _take_band(self, size: int, band: np.ndarray | None) -> None:
        """Keep the band given with `size` new samples (see `process`)."""
        if self._given_band is None:
            self._given_band = band is not None
            if self._given_band:
                self._filters = SosBank(self._sections[1:])  # the band is given
        if (band is not None) != self._given_band:
            raise ValueError("give the filtered band with every chunk of a stream or with none")
        if band is None:
            return
        b = np.array(band, dtype=np.float64).ravel()  # a copy: the caller's trace may change
        if b.size != size:
            raise ValueError(f"{b.size} band samples for {size} samples")
        self._pending_band = (
            np.concatenate([self._pending_band, b]) if self._pending_band.size else b
        )

    def _measure(self, raw: np.ndarray, width: int, given_band: np.ndarray | None) -> _Seconds:
        """Features of consecutive seconds of `width` samples (raw.size a multiple);
        `given_band`: their 0.5-40 Hz band when it came with them."""
        n = raw.size // width
        with np.errstate(over="ignore", invalid="ignore"):
            all_finite = np.isfinite(np.add.reduce(raw))  # only then is the sum finite
        if all_finite:
            missing = np.zeros(n)
            x = raw
        else:
            finite = np.isfinite(raw)
            missing = 1.0 - finite.reshape(n, width).mean(axis=1)
            x = raw if finite.all() else self._hold(raw, finite)
        self._last_finite = float(x[-1])  # the last finite sample, held to the end
        filtered = self._filters.process(x)
        if given_band is not None:
            filtered = [given_band, *filtered]
        band, qrs, hf, low = (y.reshape(n, width) for y in filtered)
        envelope = np.abs(qrs)
        if width == self._per_second:  # seconds that full windows will read
            envelope.partition(width - self._top, axis=1)
        return _Seconds(
            missing=missing,
            flat=_ptp(band) < FLAT_PTP_UV,
            saturated=self._saturated(x, n, width),
            wander=_ptp(low) > WANDER_PTP_UV,
            band=band,
            envelope=envelope,
            hf_power=_row_means(hf * hf),
            band_power=_row_means(band * band),
        )

    def _hold(self, raw: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Replace non-finite samples by the last finite one before them (rare, short)."""
        last = np.where(finite, np.arange(raw.size), -1)
        np.maximum.accumulate(last, out=last)
        return np.where(last >= 0, raw[np.maximum(last, 0)], self._last_finite)

    def _saturated(self, x: np.ndarray, n: int, width: int) -> np.ndarray:
        """Per second: a run of identical samples at the second's extreme.

        Runs are carried across seconds and chunks. For each second the longest run
        seen by its samples (a run that began earlier counts its earlier samples) and
        the value of the first sample that reached that length decide.
        """
        new_run = np.empty(x.size, dtype=bool)
        new_run[0] = x[0] != self._run_value
        np.not_equal(x[1:], x[:-1], out=new_run[1:])
        starts = np.flatnonzero(new_run)
        if starts.size == 0:
            longest_run = last = self._run_length + x.size
        else:
            # Each run's length from where the next begins; the first run carries on
            # the previous chunk's when it is its continuation (no start at sample 0).
            ends = np.empty(starts.size, dtype=starts.dtype)
            ends[:-1] = starts[1:]
            ends[-1] = x.size
            lengths = ends - starts
            last = int(lengths[-1])
            carried = int(starts[0]) + self._run_length if starts[0] else 0
            longest_run = max(int(lengths.max()), carried)
        if longest_run < self._min_run:
            # No run is long enough (the usual case): only carry the last run on.
            self._run_value = float(x[-1])
            self._run_length = last
            return np.zeros(n, dtype=bool)
        pos = np.arange(x.size)
        start = np.where(new_run, pos, -self._run_length)
        np.maximum.accumulate(start, out=start)
        run = (pos - start + 1).reshape(n, width)
        self._run_value = float(x[-1])
        self._run_length = int(run[-1, -1])
        seconds = x.reshape(n, width)
        longest = run.max(axis=1)
        value = seconds[np.arange(n), run.argmax(axis=1)]
        hi, lo = seconds.max(axis=1), seconds.min(axis=1)
        span = np.maximum(hi - lo, 1.0)
        at_rail = np.minimum(np.abs(value - hi), np.abs(value - lo)) <= 0.02 * span
        return at_rail & (longest >= self._min_run) & (hi - lo >= FLAT_PTP_UV)

    def _append(self, seconds: _Seconds) -> None:
        self._kept = _Seconds.join(self._kept, seconds)
        self._next_feature += len(seconds)

    def _forget(self) -> None:
        """Keep only the seconds a future verdict still needs."""
        first = max(0, self._next_verdict - CONTEXT_S)
        if first > self._first_kept:
            self._kept = self._kept.rows(first - self._first_kept)
            self._first_kept = first

    # -- judgement --------------------------------------------------------------------

    def _judge_full(self, stop: int) -> list[QualitySecond]:
        """Judge seconds [_next_verdict, stop), each with its full window, in blocks."""
        out: list[QualitySecond] = []
        kept, first = self._kept, self._first_kept
        while self._next_verdict < stop:
            start = self._next_verdict
            count = min(JUDGE_BLOCK, stop - start)
            offset = start - CONTEXT_S - first  # kept row of the first window's start
            band = _windows(kept.band, offset, count)
            hf_power = _window_sums(kept.hf_power, offset, count)
            band_power = _window_sums(kept.band_power, offset, count)
            median, peak = _window_median_and_peak(kept.envelope, offset, count, self._top)
            measures = _measures(band, median, peak, hf_power, band_power)
            centre = kept.rows(offset + CONTEXT_S, offset + CONTEXT_S + count)
            limits = self._limits(start, measures.peak_ratio, centre)
            out += _verdicts(start + self._first_index, centre, measures, limits)
            self._next_verdict += count
        return out

    def _judge_one(self, final: bool, tail: _Seconds | None = None) -> QualitySecond:
        """Judge second `_next_verdict` on the seconds around it that exist (stream edges)."""
        index = self._next_verdict
        self._next_verdict += 1
        rows = [self._kept.rows(i, i + 1) for i in range(len(self._kept))]
        if final and tail is not None:
            rows.append(tail)
        first = self._first_kept
        lo = max(first, index - CONTEXT_S)
        hi = min(first + len(rows), index + CONTEXT_S + 1)
        window = rows[lo - first : hi - first]
        median, peak = _median_and_percentile(
            np.concatenate([r.envelope.ravel() for r in window])[None, :], PEAK_PERCENTILE
        )
        measures = _measures(
            np.concatenate([r.band.ravel() for r in window])[None, :],
            median,
            peak,
            _python_sum([float(r.hf_power[0]) for r in window]),
            _python_sum([float(r.band_power[0]) for r in window]),
        )
        centre = rows[index - first]
        limits = self._limits(index, measures.peak_ratio, centre)
        return _verdicts(index + self._first_index, centre, measures, limits)[0]

    def _limits(self, first: int, ratio: np.ndarray, centre: _Seconds) -> np.ndarray | float:
        """The peak-ratio limit of consecutive seconds from stream second `first` (judged
        in order): one value for all of them, or one each.

        The stream's level is the ADAPT_PERCENTILE-th percentile (an order statistic)
        of the peak ratios of the last ADAPT_WINDOW_S seconds with a signal, taken
        every ADAPT_EVERY_S seconds of the stream (at fixed second numbers, so chunking
        does not change it). With fewer than ADAPT_MIN_S such seconds (the start of a
        stream) the limit is PEAK_RATIO_MAX; then ADAPT_FACTOR times the level, within
        [PEAK_RATIO_MAX, PEAK_RATIO_CAP]. Plain Python on the few seconds of a chunk:
        array calls on one to ten values cost more than the arithmetic.
        """
        if ADAPT_FACTOR <= 0:
            return PEAK_RATIO_MAX
        signal_ok = (
            (centre.missing <= MISSING_SHARE_MAX)
            & ~(centre.flat | centre.saturated | centre.wander)
        ).tolist()
        values = ratio.tolist()
        every = int(ADAPT_EVERY_S)
        start = 0
        limits: np.ndarray | None = None
        for i in range(-first % every, len(values), every):
            if limits is None:
                limits = np.empty(len(values))
            limits[start:i] = self._limit
            self._remember(values[start:i], signal_ok[start:i])
            self._limit = self._level_limit()
            start = i
        self._remember(values[start:], signal_ok[start:])
        if limits is None:
            return self._limit
        limits[start:] = self._limit
        return limits

    def _remember(self, values: list[float], signal_ok: list[bool]) -> None:
        """Add the peak ratios of seconds with a signal to the stream's history."""
        history = self._history
        history.extend(r for r, ok in zip(values, signal_ok, strict=True) if ok and isfinite(r))
        if len(history) > 2 * ADAPT_WINDOW_S:
            del history[: -int(ADAPT_WINDOW_S)]

    def _level_limit(self) -> float:
        """The limit from the history as it stands (see `_limits`)."""
        past = self._history[-int(ADAPT_WINDOW_S) :]
        if len(past) < ADAPT_MIN_S:
            return PEAK_RATIO_MAX
        rank = int(ADAPT_PERCENTILE / 100 * (len(past) - 1))
        level = float(np.partition(np.array(past), rank)[rank])
        return min(max(ADAPT_FACTOR * level, PEAK_RATIO_MAX), PEAK_RATIO_CAP)


def _ptp(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows.max(axis=1) - rows.min(axis=1))


def _windows(rows: np.ndarray, offset: int, count: int) -> np.ndarray:
    """(count, WINDOW_S * samples): window i is rows offset+i .. offset+i+WINDOW_S-1,
    a read-only view (consecutive rows of a C-ordered array are consecutive samples)."""
    width = rows.shape[1]
    flat = np.ascontiguousarray(rows[offset : offset + count + WINDOW_S - 1]).reshape(-1)
    step = flat.strides[0]
    return np.ndarray((count, WINDOW_S * width), flat.dtype, flat, strides=(width * step, step))


def _window_sums(values: np.ndarray, offset: int, count: int) -> np.ndarray:
    """Sum over each window, added left to right (as Python's sum over the seconds)."""
    total = values[offset : offset + count].copy()
    for k in range(1, WINDOW_S):
        total += values[offset + k : offset + k + count]
    return total


def _python_sum(values: list[float]) -> np.ndarray:
    return np.array([sum(values)])


def _measures(
    band: np.ndarray,
    median: np.ndarray,
    peak: np.ndarray,
    hf_power: np.ndarray,
    band_power: np.ndarray,
) -> _Measures:
    """Kurtosis, peak ratio and high-frequency share of each window (one row each)."""
    kurtosis = _kurtosis_rows(band)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(peak > 0, median / peak, 1.0)
        hf_share = np.where(band_power > 0, hf_power / band_power, 0.0)
    return _Measures(kurtosis, ratio, hf_share)


def _row_means(x: np.ndarray) -> np.ndarray:
    """`x.mean(axis=1)` to the bit (numpy's mean is this sum and division) without the
    Python layer around it, which costs more than the arithmetic on a second's rows."""
    return np.add.reduce(x, axis=1) / x.shape[1]


def _kurtosis_rows(x: np.ndarray) -> np.ndarray:
    """Pearson kurtosis of each row (3 for a Gaussian); 0 for a constant row."""
    centred = x - _row_means(x)[:, None]
    np.multiply(centred, centred, out=centred)
    var = _row_means(centred)
    np.multiply(centred, centred, out=centred)
    fourth = _row_means(centred)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var <= 0, 0.0, fourth / (var * var))


def _top_count(n: int, q: float) -> int:
    """How many of the largest of n values the q-th percentile reads (both order
    statistics it interpolates between are among them)."""
    below, _, _ = _percentile_position(n, q)
    return n - below


def _window_median_and_peak(
    envelope: np.ndarray, offset: int, count: int, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_median_and_percentile(windows, PEAK_PERCENTILE)` of `count` full windows of
    envelope rows from row `offset`, to the bit, for less work.

    Both are order statistics, so any exact selection gives the same values. The
    median is one partition of each window at the lower middle rank; the upper middle
    value is the smallest of what lies above it. The percentile reads two of the
    window's `top` largest values, and those are among the `top` largest of each of
    its seconds (which `_measure` put last in every row): it is selected from
    WINDOW_S * top values instead of the whole window (70 instead of 650 at 130 Hz).
    """
    width = envelope.shape[1]
    n = WINDOW_S * width
    windows = _windows(envelope, offset, count)
    half = n // 2
    lower = half - 1 if n % 2 == 0 else half
    part = np.partition(windows, lower, axis=1)
    if n % 2 == 0:
        # numpy's median: the mean of the two middle values, (a + b) / 2.
        median = (part[:, lower] + np.minimum.reduce(part[:, half:], axis=1)) / 2
    else:
        median = part[:, half].copy()
    below, above, gamma = _percentile_position(n, PEAK_PERCENTILE)
    highest = _windows(envelope[:, width - top :], offset, count)
    rank = WINDOW_S * top - (n - below)  # rank of order statistic `below` in `highest`
    part = np.partition(highest, rank, axis=1)
    low = part[:, rank]
    high = np.minimum.reduce(part[:, rank + 1 :], axis=1) if above > below else low
    peak = _interpolate(low, high, gamma)
    nan = np.isnan(part).any(axis=1)  # NaN sorts last: a second's NaN is in its top
    if nan.any():  # numpy's median and percentile are NaN when a NaN is present
        median[nan] = np.nan
        peak = np.where(nan, np.nan, peak)
    return median, peak


def _median_and_percentile(x: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Median and q-th percentile (linear interpolation) of each row, as numpy's
    `median` and `percentile` give them, from one partition of the rows (the windows
    at the edges of a stream; full windows take `_window_median_and_peak`)."""
    n = x.shape[1]
    below, above, gamma = _percentile_position(n, q)
    half = n // 2
    mid = [half - 1, half] if n % 2 == 0 else [half]
    part = np.partition(x, sorted({*mid, below, above, n - 1}), axis=1)
    median = _row_means(part[:, mid])
    peak = _interpolate(part[:, below], part[:, above], gamma)
    nan = np.isnan(part[:, -1])
    if nan.any():  # numpy's median and percentile are NaN when a NaN is present
        median[nan] = np.nan
        peak = np.where(nan, np.nan, peak)
    return median, peak


def _percentile_position(n: int, q: float) -> tuple[int, int, float]:
    """Where numpy's linear-interpolation percentile reads: lower and upper order
    statistic and the weight of the upper one."""
    virtual = (n - 1) * np.true_divide(q, 100)
    below = int(np.floor(virtual))
    return below, min(below + 1, n - 1), float(virtual - np.floor(virtual))


def _interpolate(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """numpy's `_lerp`: the same two formulas, so the result is the same to the bit."""
    diff = b - a
    return np.asarray(a + diff * gamma if gamma < 0.5 else b - diff * (1 - gamma))


def _verdicts(
    start: int, centre: _Seconds, m: _Measures, limit: np.ndarray | float
) -> list[QualitySecond]:
    """The verdicts of consecutive seconds from their own flags and their windows' measures."""
    noisy = (
        (m.peak_ratio > limit)
        | (
            (m.kurtosis < KURTOSIS_MIN)
            & (m.peak_ratio > PEAK_RATIO_LOOSE + (limit - PEAK_RATIO_MAX))
        )
        | (m.hf_share > HF_SHARE_MAX)
    )
    # The first reason that holds (as np.select would pick it): set in reverse order.
    code = np.full(noisy.size, -1)
    for c, holds in (
        (4, noisy),
        (3, centre.wander),
        (2, centre.saturated),
        (1, centre.flat),
        (0, centre.missing > MISSING_SHARE_MAX),
    ):
        code[holds] = c
    reasons = (*REASONS, None)  # code -1: readable
    # The frozen dataclass's __init__ sets each field through object.__setattr__; a
    # stream makes one verdict a second, so they are made with their fields at once
    # (equal to QualitySecond(...) in every way: tests/signal/test_quality_fast.py).
    new, set_dict = object.__new__, object.__setattr__
    out = []
    ratio, hf_share = round_like_python(np.stack([m.peak_ratio, m.hf_share]), 4).tolist()
    for i, ok, why, k, r, h in zip(
        range(start, start + code.size),
        (code < 0).tolist(),
        [reasons[c] for c in code.tolist()],
        round_like_python(m.kurtosis, 3).tolist(),
        ratio,
        hf_share,
        strict=True,
    ):
        q = new(QualitySecond)
        set_dict(
            q,
            "__dict__",
            {
                "index": i,
                "readable": ok,
                "reason": why,
                "kurtosis": k,
                "peak_ratio": r,
                "hf_share": h,
            },
        )
        out.append(q)
    return out


def _lowpass_sos(fs: float, cutoff_hz: float) -> np.ndarray:
    return np.asarray(signal.butter(2, cutoff_hz, btype="lowpass", fs=fs, output="sos"))


def assess_quality(samples_uv: np.ndarray, fs: float) -> list[QualitySecond]:
    """Every second of a whole recording (the streaming stage fed at once)."""
    stage = SignalQuality(fs)
    return stage.process(samples_uv) + stage.flush()
