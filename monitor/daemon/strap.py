"""The strap as a daemon source: monitor.ble's StrapSession, real or virtual.

A real strap and the virtual strap run the same code: bleak's own `BleakClient`
(through `StrapSession`), with only the backend swapped for the virtual one. This
module turns the session's frames and typed events into the daemon's SourceEvents.

The strap's own heart-rate stream is not subscribed: the daemon derives heart rate
from the ECG, and each unused notification would only wake the process once more a
second.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from monitor.daemon.sources import (
    BatteryEvent,
    ClockJumpEvent,
    ConnectionEvent,
    FrameEvent,
    GapEvent,
    SourceEvent,
)
from monitor.frame import EcgFrame

_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f-]{36}")
"""A Bluetooth address (Linux, Windows) or a CoreBluetooth device UUID (macOS)."""


class StrapSource:
    """Frames and events of a StrapSession, as the daemon's source interface."""

    def __init__(
        self, session_config: Any, strap: Any = None, label: str = "", loop: bool = False
    ) -> None:
        self._session_config = session_config
        self._strap = strap
        self._label = label
        self._loop = loop
        self.session: Any = None

    @classmethod
    def radio(cls, strap: str) -> StrapSource:
        """A real strap by address (MAC, or a CoreBluetooth UUID) or by name (prefix)."""
        from monitor.ble.session import SessionConfig

        by_address = bool(_ADDRESS.fullmatch(strap))
        config = SessionConfig(
            address=strap if by_address else None,
            name=None if by_address else strap,
            heart_rate=False,
        )
        return cls(config, None, f"strap {strap} (bleak BleakClient)")

    @classmethod
    def virtual(
        cls, path: Path, speed: float = 1.0, fs: float | None = None, loop: bool = False
    ) -> StrapSource:
        """The virtual Polar H10 playing a recording, reached through bleak's BleakClient.

        loop: when the recording ends the strap is switched for a fresh one playing it
        again (the daemon sees a reconnection, as after a real drop-out)."""
        from monitor.ble.session import SessionConfig
        from monitor.ble.virtual import VirtualStrap

        csv_fs = fs if fs is not None else (130.0 if path.suffix.lower() == ".csv" else None)
        strap = VirtualStrap.from_recording(path, fs=csv_fs, speed=speed)
        mode = ", looping" if loop else ""
        label = (
            f"virtual strap {strap.name} playing {path} at {speed:g}x{mode} "
            "(bleak BleakClient, virtual backend)"
        )
        return cls(SessionConfig(name=strap.name, heart_rate=False), strap, label, loop)

    def describe(self) -> str:
        return self._label

    async def events(self) -> AsyncIterator[SourceEvent]:
        strap = self._strap
        while True:
            async for event in self._session_events(strap):
                yield event
            _raise_if_cancelled()
            if strap is None or not strap.exhausted:
                return
            if not self._loop:
                yield ConnectionEvent("ended", "end of the recording")
                return
            from monitor.ble.virtual import VirtualStrap

            strap = VirtualStrap(strap.samples_uv, strap.fs, speed=strap.speed)
            gc.collect()  # the old strap and its backend classes form cycles: free them now

    async def _session_events(self, strap: Any) -> AsyncIterator[SourceEvent]:
        import monitor.ble.events as ev
        from monitor.ble.pmd import H10_ECG_FS
        from monitor.ble.session import StrapSession

        kwargs: dict[str, Any] = {} if strap is None else strap.session_kwargs()
        self.session = StrapSession(self._session_config, **kwargs)
        async with self.session as session:
            async for item in session.stream():
                if isinstance(item, EcgFrame):
                    yield FrameEvent(item)
                elif isinstance(item, ev.StateChanged):
                    yield _connection(item)
                elif isinstance(item, ev.BatteryLevel):
                    yield BatteryEvent(item.percent)
                elif isinstance(item, ev.Gap):
                    yield GapEvent(
                        item.duration_ns / 1e9,
                        f"{item.samples} samples never arrived",
                        stream_s=item.samples / H10_ECG_FS,
                    )
                elif isinstance(item, ev.ClockJump):
                    yield ClockJumpEvent(item.jump_s)
                elif isinstance(item, ev.Stalled):
                    yield ConnectionEvent("disconnected", f"no data for {item.silence_s:.1f} s")
                elif isinstance(item, ev.EcgUnavailable):
                    yield ConnectionEvent("disconnected", f"no raw ECG: {item.reason}")
                elif isinstance(item, ev.StreamStopped):
                    yield ConnectionEvent("disconnected", "the strap stopped the ECG stream")
                if strap is not None and strap.exhausted:
                    return


def _raise_if_cancelled() -> None:
    """Honour a cancellation that closing the session swallowed.

    `StrapSession.close()` used to await its supervisor inside `suppress(CancelledError)`,
    so a cancel that reached the caller at that moment (the daemon stopping just as the
    recording ended) was lost, and the loop went on to a fresh strap: the shutdown then
    waited forever. close() now passes such a cancellation on; this stays as a guard for
    any other path that swallows one, since Python 3.11 still counts the request
    (`Task.cancelling()`).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _connection(item: Any) -> ConnectionEvent:
    state = item.state.value
    detail = ", ".join(x for x in (item.device, item.reason) if x)
    if item.retry_in_s:
        detail += f"; retry in {item.retry_in_s:.0f} s"
    mapped = {
        "streaming": "connected",
        "scanning": "connecting",
        "connecting": "connecting",
        "reconnecting": "disconnected",
        "failed": "disconnected",
        "stopped": "stopped",
    }
    return ConnectionEvent(mapped.get(state, state), detail)
