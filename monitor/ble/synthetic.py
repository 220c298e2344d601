"""A deterministic synthetic ECG for the virtual strap when no recording is given.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) placed on an RR series with
a little respiratory variation, plus slow baseline wander and a trace of noise.
It is not a physiological model: it exists so `ecgmon scan/record --virtual`,
the capture fixtures and the tests have a plausible, reproducible signal that
owes nothing to any database.
"""

from __future__ import annotations

import numpy as np

# (offset from R in s, width in s, amplitude in uV)
_WAVES = (
    (-0.20, 0.025, 120.0),   # P
    (-0.035, 0.010, -150.0),  # Q
    (0.0, 0.012, 1300.0),     # R
    (0.035, 0.012, -300.0),   # S
    (0.28, 0.050, 300.0),     # T
)


def synthetic_ecg(seconds: float, fs: float = 130.0, bpm: float = 68.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(samples in uV, R-peak sample indices) for `seconds` of synthetic ECG."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    base_rr = 60.0 / bpm
    peaks_s: list[float] = []
    beat = 0.4
    while beat < seconds:
        peaks_s.append(beat)
        rr = base_rr * (1.0 + 0.04 * np.sin(2 * np.pi * beat / 4.5)) + rng.normal(0.0, 0.01)
        beat += max(0.3, rr)
    x = 40.0 * np.sin(2 * np.pi * 0.15 * t) + rng.normal(0.0, 8.0, n)
    for r in peaks_s:
        lo = max(0, int((r - 0.4) * fs))
        hi = min(n, int((r + 0.6) * fs) + 1)
        seg = t[lo:hi]
        for offset, width, amp in _WAVES:
            x[lo:hi] += amp * np.exp(-0.5 * ((seg - r - offset) / width) ** 2)
    peaks = np.array([round(r * fs) for r in peaks_s if round(r * fs) < n], dtype=np.int64)
    return x, peaks
