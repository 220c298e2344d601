"""Several streaming SOS filters over one stream, with one input guard.

The signal-quality stage runs four filters on every chunk and the VF detector one.
Each `StreamingSosFilter` would scan the chunk again with its own input guard; the
bank guards the chunk once and hands the guarded samples to each filter's
`process_guarded` (scipy's SOS kernel without `sosfilt`'s argument handling, see
monitor/signal/filters.py).

Each output is, sample for sample, that of a `StreamingSosFilter` with the same
sections fed the same chunks: the same guard (monitor/signal/sanitise.py), the state
settled on the first sample, the same routine.
"""

from __future__ import annotations

import numpy as np

from monitor.signal.filters import StreamingSosFilter
from monitor.signal.sanitise import InputGuard


class SosBank:
    """SOS filters (each an (n, 6) array of sections) over the same stream, each
    with its state carried across chunks."""

    def __init__(self, sections: list[np.ndarray]) -> None:
        self._filters = [StreamingSosFilter(s) for s in sections]
        self.guard = InputGuard()

    def process(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Each filter's output for the next chunk (same length as the chunk)."""
        x = self.guard.process(chunk)
        return [f.process_guarded(x) for f in self._filters]
