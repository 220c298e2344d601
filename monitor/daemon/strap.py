"""The strap as a daemon source: monitor.ble's StrapSession, real or virtual.

A real strap and the virtual strap run the same code: bleak's own `BleakClient`
(through `StrapSession`), with only the backend swapped for the virtual one. This
module turns the session's frames and typed events into the daemon's SourceEvents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from monitor.daemon.sources import (
    BatteryEvent,
    ConnectionEvent,
    FrameEvent,
    GapEvent,
    SourceEvent,
)
from monitor.frame import EcgFrame

LOOP_HOURS = 24.0
"""A looped replay is the recording repeated to cover this much time."""


class StrapSource:
    """Frames and events of a StrapSession, as the daemon's source interface."""

    def __init__(self, session_config: Any, strap: Any = None, label: str = "") -> None:
        self._session_config = session_config
        self._strap = strap
        self._label = label
        self.session: Any = None

    @classmethod
    def virtual(cls, path: Path, speed: float = 1.0, fs: float | None = None,
                loop: bool = False) -> StrapSource:
        """The virtual Polar H10 playing a recording, reached through bleak's BleakClient."""
        from monitor.ble.session import SessionConfig
        from monitor.ble.virtual import VirtualStrap

        csv_fs = fs if fs is not None else (130.0 if path.suffix.lower() == ".csv" else None)
        strap = VirtualStrap.from_recording(path, fs=csv_fs, speed=speed)
        if loop:
            repeats = max(1, int(np.ceil(LOOP_HOURS * 3600 * strap.fs / strap.samples_uv.size)))
            strap = VirtualStrap(np.tile(strap.samples_uv, repeats), strap.fs, speed=speed)
        mode = ", looping" if loop else ""
        label = (f"virtual strap {strap.name} playing {path} at {speed:g}x{mode} "
                 "(bleak BleakClient, virtual backend)")
        return cls(SessionConfig(name=strap.name), strap, label)

    @classmethod
    def radio(cls, address_or_name: str) -> StrapSource:
        from monitor.ble.session import SessionConfig

        is_address = address_or_name.count(":") == 5 or address_or_name.count("-") == 4
        config = (SessionConfig(address=address_or_name) if is_address
                  else SessionConfig(name=address_or_name))
        return cls(config, None, f"strap {address_or_name} (Bluetooth LE)")

    def describe(self) -> str:
        return self._label

    async def events(self) -> AsyncIterator[SourceEvent]:
        import monitor.ble.events as ev
        from monitor.ble.session import StrapSession

        kwargs: dict[str, Any] = {}
        if self._strap is not None:
            kwargs = {"scanner_backend": self._strap.scanner_backend,
                      "client_backend": self._strap.client_backend,
                      "clock": self._strap.clock}
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
                    yield GapEvent(item.duration_ns / 1e9, f"{item.samples} samples never arrived")
                elif isinstance(item, ev.Stalled):
                    yield ConnectionEvent("disconnected", f"no data for {item.silence_s:.1f} s")
                elif isinstance(item, ev.EcgUnavailable):
                    yield ConnectionEvent("disconnected", f"no raw ECG: {item.reason}")
                elif isinstance(item, ev.StreamStopped):
                    yield ConnectionEvent("disconnected", "the strap stopped the ECG stream")
                if self._strap is not None and self._strap.exhausted:
                    yield ConnectionEvent("ended", "end of the recording")
                    return


def _connection(item: Any) -> ConnectionEvent:
    state = item.state.value
    detail = ", ".join(x for x in (item.device, item.reason) if x)
    if item.retry_in_s:
        detail += f"; retry in {item.retry_in_s:.0f} s"
    mapped = {"streaming": "connected", "scanning": "connecting", "connecting": "connecting",
              "reconnecting": "disconnected", "failed": "disconnected", "stopped": "stopped"}
    return ConnectionEvent(mapped.get(state, state), detail)
