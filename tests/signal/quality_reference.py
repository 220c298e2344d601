"""The signal-quality stage as it was before it was vectorised (main at cd356bc),
kept verbatim as the reference the fast implementation must match verdict for verdict.

One second at a time, a Python loop over samples for the saturation runs: slow
(about 28 CPU s per 24 h at 130 Hz) but plainly correct. Thresholds, reasons and the
verdict type come from the product module, so a threshold change applies to both;
a change to a decision rule must be made in both places.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.signal import quality
from monitor.signal.filters import StreamingSosFilter, bandpass_sos, check_fs
from monitor.signal.quality import (
    CONTEXT_S,
    FLAT_PTP_UV,
    HF_SHARE_MAX,
    KURTOSIS_MIN,
    MISSING_SHARE_MAX,
    PEAK_RATIO_CAP,
    PEAK_RATIO_LOOSE,
    PEAK_RATIO_MAX,
    SATURATION_RUN_S,
    WANDER_PTP_UV,
    QualitySecond,
)


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
        self._history: deque[float] = deque()  # peak ratios of seconds with a signal
        self._level: float | None = None  # the stream's level in force

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

        usable = not (
            centre.missing > MISSING_SHARE_MAX or centre.flat or centre.saturated or centre.wander
        ) and bool(np.isfinite(ratio))
        limit = self._limit(index, ratio, usable)
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
            ratio > limit
            or (kurt < KURTOSIS_MIN and ratio > PEAK_RATIO_LOOSE + (limit - PEAK_RATIO_MAX))
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

    def _limit(self, index: int, ratio: float, usable: bool) -> float:
        """The peak-ratio limit of second `index`: on every ADAPT_EVERY_S-th second the
        stream's level is taken anew, the ADAPT_PERCENTILE-th order statistic of the
        last ADAPT_WINDOW_S usable seconds' ratios (none before ADAPT_MIN_S of them);
        the limit is PEAK_RATIO_MAX without a level (or with adaptation off), else
        ADAPT_FACTOR x the level within [PEAK_RATIO_MAX, PEAK_RATIO_CAP]. Then this
        second joins the history."""
        if index % quality.ADAPT_EVERY_S == 0:
            past = sorted(self._history)
            self._level = None
            if len(past) >= quality.ADAPT_MIN_S:
                self._level = past[int(quality.ADAPT_PERCENTILE / 100 * (len(past) - 1))]
        limit = PEAK_RATIO_MAX
        if quality.ADAPT_FACTOR > 0 and self._level is not None:
            limit = min(max(quality.ADAPT_FACTOR * self._level, PEAK_RATIO_MAX), PEAK_RATIO_CAP)
        if usable:
            self._history.append(ratio)
            while len(self._history) > quality.ADAPT_WINDOW_S:
                self._history.popleft()
        return limit


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
