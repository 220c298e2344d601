"""An asyncio event loop on virtual time: replays and tests as fast as the CPU allows.

It is the real `SelectorEventLoop` (real tasks, futures, timeouts, bleak's own
`asyncio.timeout`), except that `time()` is a counter and, whenever the loop
would sleep waiting for its next timer, the counter jumps to that timer instead.
A 30-minute strap session therefore runs as fast as the CPU allows, with the
same order of events on every run. Tests, scripts/make_capture.py and any
as-fast-as-possible replay of the virtual strap use it; it must never drive a
real radio (it does not wait for real I/O).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.BaseSelector):
    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("virtual-time loop would wait forever: nothing is scheduled")
        if timeout > 0 and self.loop is not None:
            self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """SelectorEventLoop whose clock jumps straight to the next timer."""

    def __init__(self, start: float = 10_000.0) -> None:
        self._virtual_now = start
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
