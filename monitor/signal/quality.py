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
electrode-motion or muscle noise the two converge.

Noise is judged over a window centred on each second (``CONTEXT_S`` each side), so a
verdict is issued ``delay_s`` after the second ends. The stage is streaming and pure:
chunking never changes the verdicts (filters carry state; each verdict depends only on
a fixed span of samples). The thresholds were set on DS1 records of MIT-BIH mixed
with the NSTDB noise-only recordings by scripts/tune_quality.py, never on the
NSTDB 118/119 test records the evaluation reports.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.signal.filters import StreamingSosFilter, bandpass_sos, check_fs

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
"""Median / 98th percentile of the QRS-band envelope above this: QRS do not stand out.
On DS1 records (clean 95th percentile 0.106) mixed with NSTDB `em` noise this marks
1.1% of clean seconds and 63% / 83% of noisy seconds at 0 / -6 dB (tune_quality.py)."""
PEAK_RATIO_LOOSE = 0.10
HF_SHARE_MAX = 0.35
"""Share of band power above 35 Hz above this: muscle noise dominates."""
MISSING_SHARE_MAX = 0.5
"""More than this share of non-finite samples: the second has no signal."""

REASONS: tuple[str, ...] = (
    "no signal",
    "flat line (leads off?)",
    "saturation",
    "baseline wander",
    "noise",
)


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
class _SecondFeatures:
    missing: float
    flat: bool
    saturated: bool
    wander: bool
    band: np.ndarray  # 0.5-40 Hz samples of the second
    envelope: np.ndarray  # |QRS band| samples of the second
    hf_power: float
    band_power: float


class SignalQuality:
    """Streaming per-second quality verdicts for one ECG lead (samples in uV)."""

    def __init__(self, fs: float) -> None:
        self.fs = check_fs(fs)
        self._per_second = round(self.fs)
        if abs(self._per_second - self.fs) > 1e-9:
            raise ValueError("signal quality needs an integer sample rate (use the working rate)")
        self._band = StreamingSosFilter(bandpass_sos(self.fs, 0.5, 40.0, order=2))
        self._qrs = StreamingSosFilter(bandpass_sos(self.fs, 5.0, 18.0, order=2))
        hf_low = min(35.0, 0.35 * self.fs)
        self._hf = StreamingSosFilter(bandpass_sos(self.fs, hf_low, 0.49 * self.fs, order=2))
        self._low = StreamingSosFilter(
            np.asarray(_lowpass_sos(self.fs, 0.7)),
        )
        self._pending = np.empty(0)
        self._last_finite = 0.0
        self._seen_finite = False
        self._features: deque[_SecondFeatures] = deque(maxlen=2 * CONTEXT_S + 1)
        self._next_feature = 0  # index of the next second whose features are computed
        self._next_verdict = 0  # index of the next second to judge
        self._run_value = np.nan
        self._run_length = 0

    @property
    def delay_s(self) -> float:
        """How long after a second ends its verdict is issued."""
        return float(CONTEXT_S)

    def process(self, chunk: np.ndarray) -> list[QualitySecond]:
        """Feed samples; return the verdicts of every second now judged."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size:
            self._pending = np.concatenate([self._pending, x])
        out: list[QualitySecond] = []
        while self._pending.size >= self._per_second:
            second, self._pending = (
                self._pending[: self._per_second],
                self._pending[self._per_second :],
            )
            self._features.append(self._measure(second))
            self._next_feature += 1
            if self._next_feature - self._next_verdict > CONTEXT_S:
                out.append(self._judge(final=False))
        return out

    def flush(self) -> list[QualitySecond]:
        """Judge the seconds still waiting for right-hand context (end of a recording).

        A trailing partial second is judged on what there is when it holds at least
        half a second of samples; shorter tails are dropped.
        """
        out: list[QualitySecond] = []
        if self._pending.size >= self._per_second // 2:
            self._features.append(self._measure(self._pending))
            self._next_feature += 1
        self._pending = np.empty(0)
        while self._next_verdict < self._next_feature:
            out.append(self._judge(final=True))
        return out

    # -- measurement ------------------------------------------------------------------

    def _measure(self, raw: np.ndarray) -> _SecondFeatures:
        finite = np.isfinite(raw)
        missing = 1.0 - float(finite.mean())
        x = raw.copy()
        for i in np.flatnonzero(~finite):  # hold the last finite value (rare, short)
            x[i] = x[i - 1] if i > 0 else self._last_finite
        if finite.any():
            self._last_finite = float(raw[finite][-1])
        band = self._band.process(x)
        envelope = np.abs(self._qrs.process(x))
        hf = self._hf.process(x)
        low = self._low.process(x)
        flat = float(np.ptp(band)) < FLAT_PTP_UV
        saturated = self._saturated(x)
        wander = float(np.ptp(low)) > WANDER_PTP_UV
        return _SecondFeatures(
            missing=missing,
            flat=flat,
            saturated=saturated,
            wander=wander,
            band=band,
            envelope=envelope,
            hf_power=float(np.mean(hf * hf)),
            band_power=float(np.mean(band * band)),
        )

    def _saturated(self, x: np.ndarray) -> bool:
        """A run of identical samples at the second's extreme, carried across seconds."""
        longest = 0
        hi, lo = float(np.max(x)), float(np.min(x))
        span = max(hi - lo, 1.0)
        at_rail = False
        for value in x:
            if value == self._run_value:
                self._run_length += 1
            else:
                self._run_value = float(value)
                self._run_length = 1
            if self._run_length > longest:
                longest = self._run_length
                at_rail = min(abs(value - hi), abs(value - lo)) <= 0.02 * span
        return bool(at_rail and longest >= SATURATION_RUN_S * self.fs and hi - lo >= FLAT_PTP_UV)

    # -- judgement --------------------------------------------------------------------

    def _judge(self, final: bool) -> QualitySecond:
        """Judge second `_next_verdict` using the features around it."""
        index = self._next_verdict
        self._next_verdict += 1
        first_kept = self._next_feature - len(self._features)
        centre = self._features[index - first_kept]
        lo = max(first_kept, index - CONTEXT_S)
        hi = min(self._next_feature, index + CONTEXT_S + 1)
        window = [self._features[i - first_kept] for i in range(lo, hi)]
        band = np.concatenate([f.band for f in window])
        envelope = np.concatenate([f.envelope for f in window])
        kurt = _kurtosis(band)
        p98 = float(np.percentile(envelope, 98))
        ratio = float(np.median(envelope)) / p98 if p98 > 0 else 1.0
        total = sum(f.band_power for f in window)
        hf_share = sum(f.hf_power for f in window) / total if total > 0 else 0.0

        reason: str | None = None
        if centre.missing > MISSING_SHARE_MAX:
            reason = "no signal"
        elif centre.flat:
            reason = "flat line (leads off?)"
        elif centre.saturated:
            reason = "saturation"
        elif centre.wander:
            reason = "baseline wander"
        elif (
            ratio > PEAK_RATIO_MAX
            or (kurt < KURTOSIS_MIN and ratio > PEAK_RATIO_LOOSE)
            or hf_share > HF_SHARE_MAX
        ):
            reason = "noise"
        return QualitySecond(
            index=index,
            readable=reason is None,
            reason=reason,
            kurtosis=round(kurt, 3),
            peak_ratio=round(ratio, 4),
            hf_share=round(hf_share, 4),
        )


def _kurtosis(x: np.ndarray) -> float:
    """Pearson kurtosis (3 for a Gaussian); 0 for a constant trace."""
    centred = x - x.mean()
    var = float(np.mean(centred * centred))
    if var <= 0:
        return 0.0
    return float(np.mean(centred**4)) / (var * var)


def _lowpass_sos(fs: float, cutoff_hz: float) -> np.ndarray:
    from scipy import signal

    return np.asarray(signal.butter(2, cutoff_hz, btype="lowpass", fs=fs, output="sos"))


def assess_quality(samples_uv: np.ndarray, fs: float) -> list[QualitySecond]:
    """Every second of a whole recording (the streaming stage fed at once)."""
    stage = SignalQuality(fs)
    return stage.process(samples_uv) + stage.flush()
