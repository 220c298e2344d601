"""Where the daemon's ECG comes from: one async interface for strap and replay.

A source is an async iterator of `SourceEvent`s: frames (`EcgFrame`), connection
changes, battery readings, gaps and the end of a finite recording. The daemon only
sees this interface, so a strap, the virtual strap and a plain recording replay are
interchangeable.

`ReplaySource` paces the frames of a recording at real time (or `speed` times real
time) in frames of 73 samples, the size a Polar H10 sends at 130 Hz. It does NOT go
through bleak: it is the stand-in until the virtual strap (monitor.ble) is wired in,
and `describe()` says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from monitor.errors import InputError
from monitor.frame import EcgFrame
from monitor.recording import load_recording
from monitor.signal import WORKING_FS
from monitor.signal.resample import resample_record

FRAME_SAMPLES = 73
"""Samples per Polar H10 PMD notification at 130 Hz (ATT MTU 232)."""

YIELD_EVERY = 64
"""When running ahead of the clock (high speed), hand control to the loop this often
so clients and timers keep being served."""


@dataclass(frozen=True)
class FrameEvent:
    frame: EcgFrame


@dataclass(frozen=True)
class ConnectionEvent:
    """state: "connecting", "connected", "disconnected", "ended"."""

    state: str
    detail: str = ""


@dataclass(frozen=True)
class BatteryEvent:
    percent: int


@dataclass(frozen=True)
class GapEvent:
    """Samples were lost between two frames (the source detected it).

    missing_s: how long, on the host clock; stream_s: how many seconds of samples
    (count / rate), when the source knows; they differ in a replay faster than real time.
    """

    missing_s: float
    detail: str = ""
    stream_s: float | None = None


@dataclass(frozen=True)
class ClockJumpEvent:
    """The strap's clock jumped by `jump_s` (negative: backwards); the samples were
    kept on the timeline, but a clinician reading the log should know the strap's
    own timestamps moved."""

    jump_s: float


SourceEvent = FrameEvent | ConnectionEvent | BatteryEvent | GapEvent | ClockJumpEvent


class Source(Protocol):
    def events(self) -> AsyncIterator[SourceEvent]: ...

    def describe(self) -> str: ...


class ReplaySource:
    """A recording paced as a strap would deliver it (no BLE involved)."""

    def __init__(
        self,
        path: str | Path,
        speed: float = 1.0,
        fs: float | None = None,
        loop: bool = False,
        frame_samples: int = FRAME_SAMPLES,
    ) -> None:
        if not speed > 0:
            raise InputError(f"--speed must be positive, not {speed:g}")
        path = Path(path)
        csv_fs = fs if fs is not None else (WORKING_FS if path.suffix.lower() == ".csv" else None)
        recording = load_recording(path, fs=csv_fs)
        x = recording.samples_uv
        if recording.fs != WORKING_FS:
            x = resample_record(np.nan_to_num(x), recording.fs, WORKING_FS)
        if x.size < FRAME_SAMPLES:
            raise InputError(f"{path.name}: too short to replay")
        self.path = path
        self.name = recording.name
        self.samples_uv = x
        self.fs = WORKING_FS
        self.speed = float(speed)
        self.loop = loop
        self.frame_samples = frame_samples

    def describe(self) -> str:
        mode = ", looping" if self.loop else ""
        return f"replay of {self.path} at {self.speed:g}x{mode} (direct, not through BLE)"

    async def events(self) -> AsyncIterator[SourceEvent]:
        yield ConnectionEvent("connected", f"replaying {self.name}")
        clock = asyncio.get_running_loop().time
        start = clock()
        start_ns = time.time_ns()
        sent = 0  # samples sent, over every loop pass
        n = self.samples_uv.size
        step = self.frame_samples
        frames = 0
        while True:
            for lo in range(0, n - step + 1, step):
                due = start + (sent + step) / self.fs / self.speed
                delay = due - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif frames % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                t0_ns = start_ns + round(sent * 1e9 / self.fs)
                yield FrameEvent(EcgFrame(t0_ns, self.fs, self.samples_uv[lo : lo + step].copy()))
                sent += step
                frames += 1
            if not self.loop:
                break
        yield ConnectionEvent("ended", f"end of {self.name}")
