"""The latest working-rate samples of one stream, kept by stream sample index.

Why it exists: the rhythm layer's signal checks (P-wave coherence in `atrial`, gap
activity in `pause_check`) look at the samples around beats that the QRS detector
and the classifier decide some time after those samples arrived. Each keeps a
bounded window of recent samples for that, and must find a beat's samples by its
stream index whatever the chunking; this class is that window, once.
"""

from __future__ import annotations

import numpy as np


class SampleHistory:
    """A rolling buffer: every sample of the latest `feed`, plus up to `keep` before it.

    `values[i]` is stream sample `start + i`. Memory stays bounded by `keep` plus the
    largest chunk fed; what is kept depends only on the samples fed and the chunk
    boundaries at the moment of reading, never on earlier chunking.
    """

    def __init__(self, keep: int, first_index: int = 0) -> None:
        self.keep = int(keep)
        self.values: np.ndarray = np.empty(0)
        self.start = first_index

    def restart(self, first_index: int) -> None:
        """Forget every sample: a new run begins at stream sample `first_index` (after a
        gap in the data, nothing is ever read across missing samples)."""
        self.values = np.empty(0)
        self.start = first_index

    def feed(self, samples: np.ndarray) -> None:
        """Append the next samples of the stream, dropping the oldest beyond `keep`."""
        x = np.asarray(samples, dtype=np.float64).ravel()
        drop = max(0, self.values.size - self.keep)
        self.values = np.concatenate([self.values[drop:], x])
        self.start += drop

    @property
    def end(self) -> int:
        """Stream index one past the newest sample kept."""
        return self.start + self.values.size
