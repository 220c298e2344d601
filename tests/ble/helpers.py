"""Running a real StrapSession against a VirtualStrap on virtual time: the one helper
that tests/ble and tests/reliability share."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from monitor.ble.events import Gap, SessionEvent, SessionState, StateChanged, StreamStopped
from monitor.ble.session import RawObserver, SessionConfig, StrapSession
from monitor.ble.simtime import run_virtual
from monitor.ble.synthetic import synthetic_ecg
from monitor.ble.virtual import Faults, VirtualStrap
from monitor.frame import EcgFrame

N = 73


def strap(seconds: float, faults: Faults | None = None, **kwargs: object) -> VirtualStrap:
    samples, peaks = synthetic_ecg(seconds, 130.0, seed=1)
    return VirtualStrap(samples, 130.0, faults=faults, r_peaks=peaks, **kwargs)  # type: ignore[arg-type]


@dataclass
class Run:
    items: list[EcgFrame | SessionEvent]
    session: StrapSession
    strap: VirtualStrap
    frames: list[EcgFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.frames = [i for i in self.items if isinstance(i, EcgFrame)]

    def of(self, kind: type) -> list:
        return [i for i in self.items if isinstance(i, kind)]

    def samples(self) -> np.ndarray:
        if not self.frames:
            return np.zeros(0)
        return np.concatenate([f.samples_uv for f in self.frames])

    def states(self) -> list[SessionState]:
        return [i.state for i in self.of(StateChanged)]

    def gap_samples(self) -> int:
        """Samples the session reported as never arrived."""
        return sum(g.samples for g in self.of(Gap))

    def before(self, item: object) -> int:
        """ECG samples delivered before `item` in the stream."""
        count = 0
        for other in self.items:
            if other is item:
                return count
            if isinstance(other, EcgFrame):
                count += len(other.samples_uv)
        raise ValueError("item not in the run")


def until_stream_end(item: object) -> bool:
    return isinstance(item, StreamStopped)


def run_session(
    vstrap: VirtualStrap,
    config: SessionConfig | None = None,
    stop: Callable[[object], bool] = until_stream_end,
    limit_s: float = 7200.0,
    seed: int = 7,
    observer: RawObserver | None = None,
    limit_ends_run: bool = False,
) -> Run:
    """Stream until `stop(item)` (default: the strap says its source ended) or FAILED.

    Reaching `limit_s` of virtual time is an error (TimeoutError), unless
    `limit_ends_run`: then the run simply ends there (a strap that never streams).
    """
    config = config or SessionConfig(scan_timeout_s=3.0)

    async def main() -> Run:
        session = StrapSession(
            config, rng=random.Random(seed), raw_observer=observer, **vstrap.session_kwargs()
        )
        items: list[EcgFrame | SessionEvent] = []
        try:
            async with asyncio.timeout(limit_s), session:
                async for item in session.stream():
                    items.append(item)
                    if stop(item):
                        break
        except TimeoutError:
            if not limit_ends_run:
                raise
        return Run(items, session, vstrap)

    return run_virtual(main())


def expected_samples(vstrap: VirtualStrap, frames: list[int]) -> np.ndarray:
    source = np.clip(np.rint(vstrap.samples_uv), -20000, 20000)
    return np.concatenate([source[k * N : (k + 1) * N] for k in frames]).astype(np.float64)
