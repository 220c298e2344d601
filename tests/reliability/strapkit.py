"""The ramp strap of the BLE fault tests: samples that say by themselves which arrived.

Sample k of the source is k microvolts (plus an offset), so the delivered samples tell
which ones arrived: strictly increasing means in order and never twice, and the missing
ones are exactly the gaps. Heart-rate notifications use R-peaks every 0.9 s so the
strap behaves as with a real ECG. Sessions run with the helper tests/ble shares.
"""

from __future__ import annotations

import numpy as np

from monitor.ble.virtual import Faults, VirtualStrap
from tests.ble.helpers import N, Run

__all__ = ["FS", "OFFSET", "N", "indices", "ramp_strap"]

FS = 130.0
OFFSET = -5000
"""Ramp start: negative and positive samples both cross the int24 codec."""


def ramp_strap(seconds: float, faults: Faults | None = None) -> VirtualStrap:
    n = round(seconds * FS)
    samples = OFFSET + np.arange(n, dtype=np.float64)
    peaks = np.arange(round(0.3 * FS), n, round(0.9 * FS))
    return VirtualStrap(samples, FS, faults=faults, r_peaks=peaks)


def indices(run: Run) -> np.ndarray:
    """Source index of every delivered sample (the ramp's value minus its offset)."""
    return np.rint(run.samples() - OFFSET).astype(np.int64)
