"""The VF detector as it was before it was restructured for speed (main at e33be0c),
kept verbatim as the reference the fast implementation must match verdict for verdict
(with one rule added since: the stricter concentration below MID_MAX_HZ).

Thresholds, the window and the verdict type come from the product module, so a
threshold change applies to both; a change to a decision rule must be made in both
places.
"""

from __future__ import annotations

import numpy as np

from monitor.classify.vf import (
    CONCENTRATION_MIN,
    DOMINANT_MAX_HZ,
    DOMINANT_MIN_HZ,
    HARMONIC_MAX,
    HF_SHARE_MAX,
    MID_CONCENTRATION_MIN,
    MID_MAX_HZ,
    SLOW_CONCENTRATION_MIN,
    SLOW_HF_SHARE_MAX,
    SLOW_MIN_HZ,
    SLOW_TCSC_MIN,
    TCSC_MIN,
    WINDOW_S,
    VfSecond,
)
from monitor.signal.filters import StreamingSosFilter, bandpass_sos, check_fs


class VfDetector:
    """Streaming per-second VF-likeness of one ECG lead (uV) at an integer rate.

    All the seconds completed by a chunk are judged at once (numpy over a stack of
    windows), so the cost does not grow with the number of calls; every verdict
    still depends only on its own window, whatever the chunking.
    """

    def __init__(self, fs: float) -> None:
        self.fs = check_fs(fs)
        self._n = round(self.fs)
        if abs(self._n - self.fs) > 1e-9:
            raise ValueError("the VF detector needs an integer sample rate (use the working rate)")
        self._filter = StreamingSosFilter(bandpass_sos(self.fs, 1.0, 30.0, order=2))
        self._pending = np.empty(0)
        self._history = np.empty(0)  # the last WINDOW_S - 1 whole seconds, filtered
        self._next = 0
        self._taper = np.hanning(WINDOW_S * self._n)
        f = np.fft.rfftfreq(WINDOW_S * self._n, 1.0 / self.fs)
        self._f = f
        self._in_band = (f >= 1.0) & (f <= 30.0)
        self._search = (f >= 1.5) & (f <= DOMINANT_MAX_HZ)
        self._hf = (f >= 12.0) & (f <= 30.0)

    def process(self, chunk: np.ndarray) -> list[VfSecond]:
        """Feed samples; return a verdict for every second now complete."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size:
            x = np.where(np.isfinite(x), x, 0.0)
            self._pending = np.concatenate([self._pending, self._filter.process(x)])
        whole = self._pending.size // self._n
        if whole == 0:
            return []
        new, self._pending = np.split(self._pending, [whole * self._n])
        buf = np.concatenate([self._history, new])
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
        first = self._next
        # Seconds with a full window behind them; earlier ones are not judged.
        full = [k for k in range(first, first + count) if k >= WINDOW_S - 1]
        out = [
            VfSecond(k, False, 0.0, 0.0, 0.0, 0.0)
            for k in range(first, first + count)
            if k < WINDOW_S - 1
        ]
        if not full:
            return out
        ends = np.array([buf.size - (first + count - 1 - k) * n for k in full])
        windows = np.lib.stride_tricks.sliding_window_view(buf, size)[ends - size]
        magnitude = np.abs(windows)
        peak = magnitude.max(axis=1)
        safe = np.where(peak > 0, peak, 1.0)
        tcsc = np.where(peak > 0, np.mean(magnitude > 0.2 * safe[:, None], axis=1), 0.0)
        tapered = windows * self._taper
        tapered -= tapered.mean(axis=1, keepdims=True)
        # The periodogram up to a constant factor (only ratios of band powers are used).
        spectrum = np.fft.rfft(tapered, axis=1)
        p = spectrum.real**2 + spectrum.imag**2
        total = np.where(self._in_band, p, 0.0).sum(axis=1)
        dominant = self._f[np.argmax(np.where(self._search, p, 0.0), axis=1)]
        near = self._in_band & (np.abs(self._f[None, :] - dominant[:, None]) <= 1.0)
        has_power = total > 0
        denominator = np.where(has_power, total, 1.0)
        conc = np.where(has_power, np.where(near, p, 0.0).sum(axis=1) / denominator, 0.0)
        near_power = np.where(np.abs(self._f[None, :] - dominant[:, None]) <= 0.5, p, 0.0).sum(
            axis=1
        )
        below = np.where(np.abs(self._f[None, :] - 0.5 * dominant[:, None]) <= 0.5, p, 0.0)
        above = np.where(np.abs(self._f[None, :] - 1.5 * dominant[:, None]) <= 0.5, p, 0.0)
        harmonic = np.minimum(below.sum(axis=1), above.sum(axis=1)) / np.where(
            near_power > 0, near_power, 1.0
        )
        periodic = harmonic > HARMONIC_MAX
        hf = np.where(has_power, np.where(self._hf, p, 0.0).sum(axis=1) / denominator, 1.0)
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
        for i, k in enumerate(full):
            out.append(
                VfSecond(
                    k,
                    bool(vf_like[i]),
                    round(float(tcsc[i]), 4),
                    round(float(conc[i]), 4),
                    round(float(hf[i]), 4),
                    float(dominant[i]),
                )
            )
        return out
