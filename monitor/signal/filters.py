"""Streaming IIR filters that carry their state across chunks.

A live strap delivers ECG in small frames; a recording is replayed in large ones.
Both must give the same output, so every filter here is a scipy.signal second-order
section cascade whose `zi` state is carried from one chunk to the next: the result
is identical, sample for sample, to filtering the whole signal at once.
"""

from __future__ import annotations

from collections.abc import Callable

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


def _checked_kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None:
    """scipy's own SOS kernel, called without `sosfilt`'s argument handling, if it is
    there and gives exactly what `signal.sosfilt` gives; None otherwise.

    `signal.sosfilt` spends ~20x longer validating, reshaping and copying its
    arguments than filtering a 73-sample notification, and every filter of the live
    path runs for every notification. The kernel is the very code `sosfilt` ends in
    (`scipy.signal._sosfilt._sosfilt(sos, x[n_signals, n], zi[n_signals, n_sections, 2])`,
    in place), so the output is bit for bit the same. It is a private name: if a scipy
    release moves or changes it, this check fails and the public `sosfilt` is used.
    """
    try:
        from scipy.signal._sosfilt import _sosfilt
    except ImportError:  # pragma: no cover - depends on the scipy release
        return None
    sos = np.asarray(signal.butter(2, [5.0, 18.0], btype="bandpass", fs=130.0, output="sos"))
    x = np.linspace(-1.0, 1.0, 37) ** 3 * 1000.0
    zi = signal.sosfilt_zi(sos) * -3.0
    want, want_zi = signal.sosfilt(sos, x, zi=zi)
    got, got_zi = np.array(x, dtype=np.float64, ndmin=2), np.array(zi, ndmin=3)
    try:
        _sosfilt(sos, got, got_zi)
    except Exception:  # pragma: no cover - depends on the scipy release
        return None
    if not (np.array_equal(got[0], want) and np.array_equal(got_zi[0], want_zi)):
        return None  # pragma: no cover
    kernel: Callable[[np.ndarray, np.ndarray, np.ndarray], None] = _sosfilt
    return kernel


_SOS_KERNEL = _checked_kernel()


class StreamingSosFilter:
    """An SOS filter whose state survives between calls to `process`.

    The state is settled on the first sample (as if the signal had always had that
    value), so an electrode's DC offset does not ring through the band-pass as a
    start-up transient that would look like beats. Replay and live stream see the
    same first sample, so they stay identical.

    Every chunk first passes `guard` (monitor/signal/sanitise.py): lost samples are
    held and impossible values clamped to the sensor's range, so one bad value cannot
    overflow the state; `guard` counts what it changed. A caller whose samples have
    already passed an `InputGuard` (the QRS detector feeds two filters from one guarded
    chunk) calls `process_guarded` and skips the second, idle guard.
    """

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self._zi: np.ndarray | None = None  # (1, n_sections, 2), the kernel's layout
        self.guard = InputGuard()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next chunk (any length, including 0) and return the same number of samples."""
        return self.process_guarded(self.guard.process(chunk))

    def process_guarded(self, x: np.ndarray) -> np.ndarray:
        """`process` for samples that already came out of an `InputGuard` (float64,
        finite, in range): the same output, without checking them again."""
        if x.size == 0:
            return np.empty(0)
        if self._zi is None:
            self._zi = np.array(signal.sosfilt_zi(self.sos) * x[0], ndmin=3)
        if _SOS_KERNEL is not None:
            y = np.array(x, dtype=np.float64, ndmin=2)  # a C-contiguous copy, filtered in place
            _SOS_KERNEL(self.sos, y, self._zi)
            return y[0]
        out, zi = signal.sosfilt(self.sos, x, zi=self._zi[0])  # pragma: no cover
        self._zi = np.array(zi, ndmin=3)  # pragma: no cover
        return np.asarray(out)  # pragma: no cover

    def reset(self) -> None:
        """Forget the history, as after a gap in the data: the next sample settles the state."""
        self._zi = None


def ecg_filter(fs: float) -> StreamingSosFilter:
    """The runtime ECG filter (0.5-40 Hz): what the classifier and the TUI trace see."""
    return StreamingSosFilter(bandpass_sos(fs, *ECG_BAND_HZ, order=2))


def filter_ecg(samples: np.ndarray, fs: float) -> np.ndarray:
    """Filter a whole recording exactly as the streaming runtime filter would."""
    return ecg_filter(fs).process(samples)
