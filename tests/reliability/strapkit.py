"""Running a real StrapSession against the virtual strap on virtual time, for fault tests.

The source is a ramp (sample k is k microvolts, plus an offset), so the samples that
come out say by themselves which ones arrived: strictly increasing means in order and
never twice, and the missing ones are exactly the gaps. Heart-rate notifications use
R-peaks every 0.9 s so the strap behaves as with a real ECG.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.ble.events import Gap, SessionEvent, SessionState, StateChanged, StreamStopped
from monitor.ble.session import SessionConfig, StrapSession
from monitor.ble.simtime import run_virtual
from monitor.ble.virtual import Faults, VirtualStrap
from monitor.frame import EcgFrame

FS = 130.0
N = 73
"""Samples per H10 notification at the default MTU."""
OFFSET = -5000
"""Ramp start: negative and positive samples both cross the int24 codec."""


def ramp_strap(seconds: float, faults: Faults | None = None, **kwargs: object) -> VirtualStrap:
    n = round(seconds * FS)
    samples = OFFSET + np.arange(n, dtype=np.float64)
    peaks = np.arange(round(0.3 * FS), n, round(0.9 * FS))
    return VirtualStrap(samples, FS, faults=faults, r_peaks=peaks, **kwargs)  # type: ignore[arg-type]


@dataclass
class Run:
    items: list[EcgFrame | SessionEvent]
    strap: VirtualStrap
    session: StrapSession

    def of(self, kind: type) -> list[Any]:
        return [i for i in self.items if isinstance(i, kind)]

    def samples(self) -> np.ndarray:
        frames = self.of(EcgFrame)
        if not frames:
            return np.zeros(0)
        return np.concatenate([f.samples_uv for f in frames])

    def indices(self) -> np.ndarray:
        """Source index of every delivered sample (the ramp's value minus its offset)."""
        return np.rint(self.samples() - OFFSET).astype(np.int64)

    def states(self) -> list[SessionState]:
        return [s.state for s in self.of(StateChanged)]

    def gap_samples(self) -> int:
        return sum(g.samples for g in self.of(Gap))


def ended(item: object) -> bool:
    return isinstance(item, StreamStopped)


def run(
    strap: VirtualStrap,
    config: SessionConfig | None = None,
    stop: Callable[[object], bool] = ended,
    limit_s: float = 3600.0,
) -> Run:
    """Stream until `stop(item)`, the session fails, or `limit_s` of virtual time."""
    config = config or SessionConfig(scan_timeout_s=3.0)

    async def main() -> Run:
        session = StrapSession(
            config,
            scanner_backend=strap.scanner_backend,
            client_backend=strap.client_backend,
            clock=strap.clock,
            rng=random.Random(7),
        )
        items: list[EcgFrame | SessionEvent] = []
        try:
            async with asyncio.timeout(limit_s), session:
                async for item in session.stream():
                    items.append(item)
                    if stop(item):
                        break
        except TimeoutError:
            pass
        return Run(items, strap, session)

    return run_virtual(main())
