"""The value that flows from every ECG source into the signal path.

A real strap, the virtual strap and a recording on disk all produce `EcgFrame`s, so
everything downstream runs the same code whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EcgFrame:
    """A run of consecutive ECG samples.

    t0_ns: host time (ns since the Unix epoch) of the first sample.
    fs: sample rate in Hz.
    samples_uv: samples in microvolts (float64, one lead).
    """

    t0_ns: int
    fs: float
    samples_uv: np.ndarray

    @property
    def duration_ns(self) -> int:
        """Time covered by the frame, first sample to one period after the last."""
        return round(len(self.samples_uv) * 1e9 / self.fs)
