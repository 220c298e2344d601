"""Ventricular flutter / fibrillation detection that needs no QRS detection.

In VF there are no QRS complexes to detect: the trace is a fast, roughly sinusoidal
oscillation. Each second is judged on the last ``WINDOW_S`` seconds of the 1-30 Hz
band-passed signal with three classic QRS-free measures:

* threshold-crossing sample count (TCSC, Arafat, Chowdhury and Hasan, "A simple time
  domain algorithm for the detection of ventricular fibrillation in
  electrocardiogram", Signal Image Video Process. 5:1-10, 2011): the share of
  samples above 20% of the window's peak. Narrow QRS complexes give a low share,
  VF's continuous oscillation a high one;
* spectral concentration around the dominant frequency (after Barro et al.,
  "Algorithmic sequential decision-making in the frequency domain for life
  threatening ventricular arrhythmias", J. Biomed. Eng. 11:320-328, 1989): VF
  puts most of its power within 1 Hz of one peak between 2 and 10 Hz;
* the share of power above 12 Hz, which is low in VF and high in QRS-rich rhythms
  and muscle noise;
* harmonics: a periodic rhythm of wide complexes (paced) has lines at half and one
  and a half times its strongest frequency, VF's oscillation does not.

A second is VF-like when all hold (with stricter limits for slow oscillations); an
episode needs ``CONFIRM_SECONDS`` VF-like seconds in a row and lasts until
``HOLD_SECONDS`` seconds in a row are not VF-like (VF's waveform changes from second
to second, and an alarm that flickers is worse than none). The thresholds were
chosen on the odd-numbered CUDB records and 12 DS1 records of MIT-BIH (see
docs/RHYTHM.md, which also reports the even-numbered CUDB records on their own as
held-out data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.signal.filters import bandpass_sos, check_fs
from monitor.signal.rounding import round_like_python
from monitor.signal.sosbank import SosBank

WINDOW_S = 3
"""Seconds of signal behind each verdict: 3 s resolves the spectrum to 1/3 Hz and
leaves room within the 5 s alert goal (4 s, the first choice, made onsets late: on the
odd-numbered CUDB records 3 s alerted 23 of 23 onsets in time against 20 with 4 s, with
fewer false VF episodes)."""
TCSC_MIN = 0.40
CONCENTRATION_MIN = 0.50
HF_SHARE_MAX = 0.15
DOMINANT_MIN_HZ = 2.5
"""Ventricular flutter runs at 150-300/min and fibrillation faster; 2.5 Hz (150/min)
also keeps fast runs of wide ectopic beats (about 2 Hz in MIT-BIH 208) out."""
DOMINANT_MAX_HZ = 10.0
MID_MAX_HZ = 3.2
MID_CONCENTRATION_MIN = 0.65
"""Below 3.2 Hz (192/min; with the 1/3 Hz bins of a 3 s window, 3.0 Hz and under) a
fast VF-like second needs more of its power near the peak (0.65 instead of 0.50).
Electrode-motion noise puts a broad hump there: on DS1 records mixed with the NSTDB
`em` recording it made 5 VF episodes in the noisy segments at 6 dB and 32 at 0 dB
(2 and 0 with this rule), while the odd-numbered CUDB records kept 23 of 23 onsets
alerted in time (scripts/tune_rhythm.py vf / noise). Coarse VF and flutter that slow
are close to a sinusoid, as the slow branch below already asks for; 0.60 left 3 and
5 episodes, 0.70 the same as 0.65."""
SLOW_MIN_HZ = 1.5
SLOW_TCSC_MIN = 0.60
SLOW_CONCENTRATION_MIN = 0.75
SLOW_HF_SHARE_MAX = 0.05
"""Slow, coarse VF (90-150/min, as in CUDB cu15) is accepted only when it is an almost
pure oscillation: most samples near the peak, power within 1 Hz of one frequency and
next to none above 12 Hz; fast wide-QRS rhythms never look that clean."""
HARMONIC_MAX = 0.25
"""A periodic rhythm of wide complexes at f0 (a paced rhythm at 70/min, MIT-BIH 107
and 217) has its strongest line at a harmonic 2 f0 inside the VF band, with lines at
f0 and 3 f0 beside it; VF's oscillation has no power at half and one and a half times
its frequency. When both of those hold more than this share of the power near the
dominant frequency, the second is not VF-like. Chosen on the odd-numbered CUDB
records, DS1 and the paced records 102 and 107 (the largest share that still alerted
every odd-numbered CUDB onset in time)."""
CONFIRM_SECONDS = 2
"""VF-like seconds in a row before an episode starts (a single VF-like window is
often one artefact)."""
HOLD_SECONDS = 3


@dataclass(frozen=True)
class VfSecond:
    """The VF verdict on second `index` (covering [index, index + 1) s of the stream)."""

    index: int
    vf_like: bool
    tcsc: float
    concentration: float
    hf_share: float
    dominant_hz: float


class VfDetector:
    """Streaming per-second VF-likeness of one ECG lead (uV) at an integer rate.

    All the seconds completed by a chunk are judged at once (numpy over a stack of
    windows), so the cost does not grow with the number of calls; every verdict
    still depends only on its own window, whatever the chunking.

    first_index: the index of the stream's first second (a stream restarted after a
        gap can count on from where the previous one stopped).
    """

    def __init__(self, fs: float, first_index: int = 0) -> None:
        self.fs = check_fs(fs)
        self._n = round(self.fs)
        if abs(self._n - self.fs) > 1e-9:
            raise ValueError("the VF detector needs an integer sample rate (use the working rate)")
        self._filter = SosBank([bandpass_sos(self.fs, 1.0, 30.0, order=2)])
        self._pending = np.empty(0)
        self._history = np.empty(0)  # the last WINDOW_S - 1 whole seconds, filtered
        self._next = 0
        self._first_index = int(first_index)
        self._taper = np.hanning(WINDOW_S * self._n)
        f = np.fft.rfftfreq(WINDOW_S * self._n, 1.0 / self.fs)
        self._f = f
        search = np.flatnonzero((f >= 1.5) & (f <= DOMINANT_MAX_HZ))
        self._search_bins = (int(search[0]), int(search[-1]) + 1)
        self._fixed, self._by_dominant = _band_weights(f)

    def process(self, chunk: np.ndarray) -> list[VfSecond]:
        """Feed samples; return a verdict for every second now complete."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size:
            if not _all_finite(x):
                x = np.where(np.isfinite(x), x, 0.0)
            (y,) = self._filter.process(x)
            self._pending = np.concatenate([self._pending, y]) if self._pending.size else y
        whole = self._pending.size // self._n
        if whole == 0:
            return []
        cut = whole * self._n
        new, self._pending = self._pending[:cut], self._pending[cut:]
        buf = np.concatenate([self._history, new]) if self._history.size else new
        self._history = buf[max(0, buf.size - (WINDOW_S - 1) * self._n) :]
        out = self._judge(buf, whole)
        self._next += whole
        return out

    def flush(self) -> list[VfSecond]:
        """A partial last second is not judged (VF needs whole windows)."""
        self._pending = np.empty(0)
        return []

    def _judge(self, buf: np.ndarray, count: int) -> list[VfSecond]:
        """Verdicts on the last `count` seconds of `buf` (each on the WINDOW_S s to its end)."""
        n, size = self._n, WINDOW_S * self._n
        first = self._next + self._first_index
        # The first WINDOW_S - 1 seconds of a stream have no full window: not judged.
        early = max(0, min(count, WINDOW_S - 1 - self._next))
        out = [VfSecond(k, False, 0.0, 0.0, 0.0, 0.0) for k in range(first, first + early)]
        m = count - early
        if m == 0:
            return out
        # Window i ends (m - 1 - i) seconds before the end of buf: a strided view.
        tail = np.ascontiguousarray(buf[buf.size - (m - 1) * n - size :])
        windows = _sliding(tail, m, n, size)
        # |x| once per sample rather than once per window holding it; a window's peak
        # is the largest of its seconds' peaks (exact: max only picks a value).
        magnitude = np.abs(tail)
        per_second = np.maximum.reduce(magnitude.reshape(m + WINDOW_S - 1, n), axis=1)
        peak = per_second[:m].copy()
        for k in range(1, WINDOW_S):
            np.maximum(peak, per_second[k : k + m], out=peak)
        safe = np.where(peak > 0, peak, 1.0)
        # Means as numpy's mean computes them (sum, then division), minus its Python layer.
        above = _sliding(magnitude, m, n, size) > 0.2 * safe[:, None]
        above_fifth = np.count_nonzero(above, axis=1) / size
        tcsc = np.where(peak > 0, above_fifth, 0.0)
        tapered = windows * self._taper
        tapered -= (np.add.reduce(tapered, axis=1) / size)[:, None]
        # The periodogram up to a constant factor (only ratios of band powers are used).
        spectrum = np.fft.rfft(tapered, axis=1)
        p = spectrum.real**2 + spectrum.imag**2
        # The first strongest bin of the search band (its bins are consecutive), or
        # bin 0 when the band holds no power, as argmax over p zeroed outside it gives.
        lo, hi = self._search_bins
        strongest = np.argmax(p[:, lo:hi], axis=1) + lo
        strongest[np.maximum.reduce(p[:, lo:hi], axis=1) <= 0] = 0
        dominant = self._f[strongest]
        # Band powers: p times the 0/1 weights of each band (equal to selecting the bins:
        # p is finite and >= 0), summed over all bins as the measures were defined.
        fixed, by_dominant = self._fixed, self._by_dominant
        total = (p * fixed[0]).sum(axis=1)
        hf_power = (p * fixed[1]).sum(axis=1)
        near_1hz, near, below, above_power = ((p * w[strongest]).sum(axis=1) for w in by_dominant)
        has_power = total > 0
        denominator = np.where(has_power, total, 1.0)
        conc = np.where(has_power, near_1hz / denominator, 0.0)
        harmonic = np.minimum(below, above_power) / np.where(near > 0, near, 1.0)
        periodic = harmonic > HARMONIC_MAX
        hf = np.where(has_power, hf_power / denominator, 1.0)
        fast = (
            (tcsc > TCSC_MIN)
            & (conc > CONCENTRATION_MIN)
            & (hf < HF_SHARE_MAX)
            & (dominant >= DOMINANT_MIN_HZ)
            & (dominant <= DOMINANT_MAX_HZ)
            & ((dominant >= MID_MAX_HZ) | (conc > MID_CONCENTRATION_MIN))
        )
        slow = (
            (tcsc > SLOW_TCSC_MIN)
            & (conc > SLOW_CONCENTRATION_MIN)
            & (hf < SLOW_HF_SHARE_MAX)
            & (dominant >= SLOW_MIN_HZ)
            & (dominant < DOMINANT_MIN_HZ)
        )
        vf_like = (fast | slow) & ~periodic
        # One verdict a second: made with all fields at once rather than through the
        # frozen dataclass's __init__ (equal in every way: tests/rhythm/test_vf_fast.py).
        new, set_dict = object.__new__, object.__setattr__
        tcsc_r, conc_r, hf_r = round_like_python(np.stack([tcsc, conc, hf]), 4).tolist()
        for k, like, t, c, h, d in zip(
            range(first + early, first + count),
            vf_like.tolist(),
            tcsc_r,
            conc_r,
            hf_r,
            dominant.tolist(),
            strict=True,
        ):
            v = new(VfSecond)
            set_dict(
                v,
                "__dict__",
                {
                    "index": k,
                    "vf_like": like,
                    "tcsc": t,
                    "concentration": c,
                    "hf_share": h,
                    "dominant_hz": d,
                },
            )
            out.append(v)
        return out


def _all_finite(x: np.ndarray) -> bool:
    """Whether every sample is finite: a sum is finite only then (one pass, no mask)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(x)))


def _sliding(x: np.ndarray, count: int, step: int, size: int) -> np.ndarray:
    """(count, size) read-only view of contiguous `x`: row i is x[i * step : i * step + size]."""
    stride = x.strides[0]
    return np.ndarray((count, size), x.dtype, x, strides=(step * stride, stride))


def _band_weights(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0/1 weights of the frequency bins: (2, bins) for the 1-30 Hz band and 12-30 Hz;
    (4, bins, bins) for each possible dominant bin j: within 1 Hz of f[j] (in band),
    within 0.5 Hz of f[j], of f[j] / 2 and of 1.5 f[j]. The same comparisons the
    measures were defined with, made once instead of per window."""
    in_band = (f >= 1.0) & (f <= 30.0)
    d = f[:, None]
    fixed = np.stack([in_band, (f >= 12.0) & (f <= 30.0)]).astype(np.float64)
    by_dominant = np.stack(
        [
            in_band & (np.abs(f[None, :] - d) <= 1.0),
            np.abs(f[None, :] - d) <= 0.5,
            np.abs(f[None, :] - 0.5 * d) <= 0.5,
            np.abs(f[None, :] - 1.5 * d) <= 0.5,
        ]
    ).astype(np.float64)
    return fixed, by_dominant
