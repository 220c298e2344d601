"""The signal path's input boundary: what a filter sees is finite and physically possible.

Samples reach the signal path from a strap (24-bit microvolts), the virtual strap and
recordings on disk (any float; NaN for a lost sample). An IIR filter settles its state
on the first sample and carries it on, so one absurd value spoils everything after it:
1e300 overflows the state to inf and then NaN (finding R3: a flat line gave a beat),
and 5.4e15 leaves rounding residue that depends on where the chunks were cut (finding
R2b: the R-peaks changed with the chunking). No ECG sensor measures such values, so
they are brought back to what one can measure before any filtering:

* a non-finite sample (lost, or a decoding accident) is held at the last good value,
  0 before the first one;
* a finite sample beyond `PHYSICAL_LIMIT_UV` is clamped to it.

`StreamingSosFilter` (monitor/signal/filters.py) passes every chunk through an
`InputGuard` first, so every path that filters (QRS detector, ECG filter for the
classifier, signal quality, VF) gets the same protection in one place; the guard
counts what it changed, so a caller can mark those samples. Real ECG (finite, a few
millivolts) passes unchanged, as the same array: the detector's output on real data
is bit for bit what it was.
"""

from __future__ import annotations

import numpy as np

PHYSICAL_LIMIT_UV = float(2**23 - 1)
"""The largest magnitude any ECG source of ecgmon can carry: a Polar PMD frame holds
24-bit signed microvolts (about +-8.4 V; the H10's input range is only +-20 mV)."""


def sanitise(
    x: np.ndarray, last: float = 0.0, limit_uv: float = PHYSICAL_LIMIT_UV
) -> tuple[np.ndarray, np.ndarray]:
    """(clean samples, mask of the samples changed): non-finite ones held at the last
    good value (`last` before the first), out-of-range ones clamped to +-limit_uv.

    Returns `x` itself (and an all-false mask) when nothing needs changing.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or _within(x, limit_uv):
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


def _within(x: np.ndarray, limit_uv: float) -> bool:
    """Every sample of the non-empty `x` finite and within +-limit_uv (NaN fails both tests).

    The ufunc reductions are called directly: `ndarray.max` adds a Python layer worth
    about a third of the call on a 73-sample notification, which every filter sees."""
    return bool(_MAX(x, axis=None) <= limit_uv and _MIN(x, axis=None) >= -limit_uv)


_MAX = np.maximum.reduce
_MIN = np.minimum.reduce


class InputGuard:
    """`sanitise` over a stream: the hold carries across chunks, so any chunking gives
    the same samples. `held` and `clamped` count what was changed so far."""

    def __init__(self, limit_uv: float = PHYSICAL_LIMIT_UV) -> None:
        self.limit_uv = float(limit_uv)
        self._last = 0.0
        self.held = 0
        self.clamped = 0

    @property
    def changed(self) -> int:
        """Samples changed so far (held or clamped)."""
        return self.held + self.clamped

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """The chunk with every sample finite and within +-limit_uv."""
        x = np.asarray(chunk, dtype=np.float64)
        if x.size and _within(x, self.limit_uv):
            # Real ECG, every call: the same array back, nothing to count (one pass
            # each for max and min, no mask allocated).
            self._last = float(x[-1])
            return x
        y, changed = sanitise(x, self._last, self.limit_uv)
        if y.size:
            self._last = float(y[-1])
        if y is not x:
            lost = int(np.count_nonzero(~np.isfinite(x)))
            self.held += lost
            self.clamped += int(np.count_nonzero(changed)) - lost
        return y
