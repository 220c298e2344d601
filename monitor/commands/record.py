"""`ecgmon record --out FILE`: keep what a strap sends, byte for byte.

Connects like the daemon does (same `StrapSession`, same reconnects) and
writes every notification with its host receive time to a capture file (JSON
lines, see monitor/ble/capture.py) that the virtual strap can replay bit for bit
(`--virtual --source FILE`). Progress and every state change, gap and error go
to stderr, one line each; Ctrl-C stops cleanly and keeps everything written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.ble.capture import CaptureWriter
from monitor.ble.errors import StrapError
from monitor.ble.events import (
    BatteryLevel,
    Gap,
    HeartRate,
    Malformed,
    SessionState,
    StateChanged,
    StreamStopped,
)
from monitor.ble.session import SessionConfig, StrapSession
from monitor.commands.scan import add_virtual_arguments, virtual_strap
from monitor.frame import EcgFrame


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="save a strap's raw notifications to a capture file",
        description="Connect to a strap, start raw ECG (and heart rate, battery) and save "
        "every notification with its host receive time as JSON lines.",
    )
    parser.add_argument("--out", type=Path, required=True, help="capture file to create (.jsonl)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--address", help="strap address (default: the first strap found)")
    target.add_argument("--name", help="strap name or name prefix, e.g. 'Polar H10'")
    parser.add_argument("--duration", type=float,
                        help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--scan-timeout", type=float, default=10.0,
                        help="seconds to look for the strap per attempt (default 10)")
    parser.add_argument("--attempts", type=int, default=5,
                        help="give up after this many failed attempts in a row "
                        "(default 5; 0 = never give up)")
    parser.add_argument("--quiet", action="store_true", help="only the final summary")
    add_virtual_arguments(parser)
    parser.set_defaults(func=run)


class _Recorder:
    """Owns the capture file (created at the first byte received) and the tallies."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.session: StrapSession | None = None
        self.writer: CaptureWriter | None = None
        self.samples = 0
        self.gaps = 0
        self.gap_samples = 0
        self.malformed = 0
        self.failed: str | None = None

    def observe(self, char: str, kind: str, data: bytes, t_ns: int) -> None:
        if self.writer is None:
            session = self.session
            name = session.device_name if session else ""
            address = session.device_address if session else ""
            self.writer = CaptureWriter(self.out, name, address, t_ns)
        self.writer.write(char, kind, data, t_ns)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


async def _record(args: argparse.Namespace, recorder: _Recorder) -> None:
    kwargs: dict[str, Any] = {}
    strap = None
    if args.virtual:
        strap = virtual_strap(args)
        kwargs = {"scanner_backend": strap.scanner_backend,
                  "client_backend": strap.client_backend, "clock": strap.clock}
    config = SessionConfig(address=args.address, name=args.name,
                           scan_timeout_s=args.scan_timeout,
                           max_attempts=args.attempts or None)
    session = StrapSession(config, raw_observer=recorder.observe, **kwargs)
    recorder.session = session
    clock: Callable[[], int] = kwargs.get("clock", time.time_ns)
    start_ns = clock()
    end_ns = None if args.duration is None else start_ns + int(args.duration * 1e9)
    async with session:
        async for item in session.stream():
            if isinstance(item, EcgFrame):
                recorder.samples += len(item.samples_uv)
            elif isinstance(item, Gap):
                recorder.gaps += 1
                recorder.gap_samples += item.samples
                lost_s = item.duration_ns / 1e9
                _say(args.quiet, f"gap: {item.samples} samples ({lost_s:.2f} s) lost")
            elif isinstance(item, StateChanged):
                detail = ", ".join(x for x in (item.device, item.reason) if x)
                retry = f", retry in {item.retry_in_s:.1f} s" if item.retry_in_s else ""
                _say(args.quiet, f"{item.state.value}{': ' + detail if detail else ''}{retry}")
                if item.state is SessionState.FAILED:
                    recorder.failed = item.reason
                    break
            elif isinstance(item, Malformed):
                recorder.malformed = item.count
                _say(args.quiet, f"malformed notification skipped: {item.error}")
            elif isinstance(item, StreamStopped) and strap is not None and strap.exhausted:
                _say(args.quiet, "the virtual strap's source has ended")
                break
            elif isinstance(item, BatteryLevel):
                _say(args.quiet, f"battery: {item.percent} %")
            elif not isinstance(item, HeartRate):
                _say(args.quiet, f"{type(item).__name__}")
            if end_ns is not None and clock() >= end_ns:
                break


def run(args: argparse.Namespace) -> int:
    if args.duration is not None and args.duration <= 0:
        raise StrapError("--duration must be positive")
    if args.out.exists():
        raise StrapError(f"{args.out} already exists; choose another --out")
    recorder = _Recorder(args.out)
    try:
        asyncio.run(_record(args, recorder))
    finally:
        if recorder.writer is not None:
            recorder.writer.close()
    if recorder.failed is not None:
        kept = (f"; {recorder.writer.count} notifications kept in {args.out}"
                if recorder.writer else "")
        raise StrapError(recorder.failed + kept)
    count = recorder.writer.count if recorder.writer else 0
    print(f"recorded {recorder.samples} ECG samples ({recorder.samples / 130:.0f} s), "
          f"{recorder.gaps} gaps ({recorder.gap_samples} samples), "
          f"{recorder.malformed} malformed; {count} notifications in {args.out}")
    return 0
