"""Streaming IIR filters that carry their state across chunks.

A live strap delivers ECG in small frames; a recording is replayed in large ones.
Both must give the same output, so every filter here is a scipy.signal second-order
section cascade whose `zi` state is carried from one chunk to the next: the result
is identical, sample for sample, to filtering the whole signal at once.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from monitor.signal import MAX_FS, MIN_FS
from monitor.signal.sanitise import InputGuard

ECG_BAND_HZ = (0.5, 40.0)
"""Pass band of the ECG filter: 0.5 Hz removes baseline wander (breathing, motion)
while keeping ST segments usable; 40 Hz keeps the QRS and drops muscle noise. This
is the filter the beat classifier is trained on, so the model sees what runs live."""


def check_fs(fs: float) -> float:
    """Return fs as a float, or raise ValueError when it is outside what ecgmon supports."""
    fs = float(fs)
    if not np.isfinite(fs) or not MIN_FS <= fs <= MAX_FS:
        raise ValueError(f"sample rate {fs:g} Hz is outside the supported {MIN_FS:g}-{MAX_FS:g} Hz")
    return fs


def bandpass_sos(fs: float, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    """Butterworth band-pass as second-order sections; the upper edge is kept below Nyquist."""
    fs = check_fs(fs)
    high_hz = min(high_hz, 0.45 * fs)
    if not 0 < low_hz < high_hz:
        raise ValueError(f"invalid band {low_hz}-{high_hz} Hz at fs={fs:g} Hz")
    return np.asarray(
        signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
    )


class StreamingSosFilter:
    """An SOS filter whose state survives between calls to `process`.

    The state is settled on the first sample (as if the signal had always had that
    value), so an electrode's DC offset does not ring through the band-pass as a
    start-up transient that would look like beats. Replay and live stream see the
    same first sample, so they stay identical.

    Every chunk first passes `guard` (monitor/signal/sanitise.py): lost samples are
    held and impossible values clamped to the sensor's range, so one bad value cannot
    overflow the state; `guard` counts what it changed.
    """

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.asarray(sos, dtype=np.float64)
        self._zi: np.ndarray | None = None
        self.guard = InputGuard()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next chunk (any length, including 0) and return the same number of samples."""
        x = self.guard.process(chunk)
        if x.size == 0:
            return np.empty(0)
        if self._zi is None:
            self._zi = signal.sosfilt_zi(self.sos) * x[0]
        y, self._zi = signal.sosfilt(self.sos, x, zi=self._zi)
        return np.asarray(y)

    def reset(self) -> None:
        """Forget the history, as after a gap in the data: the next sample settles the state."""
        self._zi = None


def ecg_filter(fs: float) -> StreamingSosFilter:
    """The runtime ECG filter (0.5-40 Hz): what the classifier and the TUI trace see."""
    return StreamingSosFilter(bandpass_sos(fs, *ECG_BAND_HZ, order=2))


def filter_ecg(samples: np.ndarray, fs: float) -> np.ndarray:
    """Filter a whole recording exactly as the streaming runtime filter would."""
    return ecg_filter(fs).process(samples)
