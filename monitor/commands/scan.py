"""`ecgmon scan`: list the ECG / heart-rate straps in range.

A Polar H10 advertises its name and the Heart Rate service; its raw-ECG (PMD)
service is only visible after connecting, so "ECG" is inferred from the name.
With no Bluetooth stack (no adapter, no BlueZ/D-Bus) it fails with one line.
`--virtual` scans the virtual strap instead, through the same bleak code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from monitor.ble import hrs, pmd
from monitor.ble.errors import StrapError, bluetooth_unavailable


@dataclass(frozen=True)
class FoundStrap:
    name: str
    address: str
    rssi: int
    streams: str


def classify(device: BLEDevice, adv: AdvertisementData) -> str:
    """'ECG+HR', 'HR' or '' from what a strap advertises."""
    name = adv.local_name or device.name or ""
    uuids = {u.lower() for u in adv.service_uuids}
    ecg = pmd.PMD_SERVICE_UUID in uuids or name.startswith("Polar H10")
    hr = hrs.HR_SERVICE_UUID in uuids
    if ecg:
        return "ECG+HR"
    return "HR" if hr else ""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="list the ECG / heart-rate straps in range",
        description="Scan for Bluetooth LE chest straps (Polar H10 raw ECG, any Heart Rate "
        "Service strap) and print name, address, signal strength and what each can stream.",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to scan (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--all", action="store_true", help="list every BLE device, not only straps")
    add_virtual_arguments(parser)
    parser.set_defaults(func=run)


def add_virtual_arguments(parser: argparse.ArgumentParser) -> None:
    """--virtual / --source / --speed, shared by scan and record."""
    group = parser.add_argument_group("virtual strap (no hardware)")
    group.add_argument("--virtual", action="store_true",
                       help="use the built-in virtual Polar H10 instead of the radio")
    group.add_argument("--source", help="what the virtual strap plays: a WFDB record, a CSV "
                       "(give --source-fs) or a capture .jsonl (default: a synthetic ECG)")
    group.add_argument("--source-fs", type=float, help="sample rate of a CSV --source, in Hz")
    group.add_argument("--speed", type=float, default=1.0,
                       help="virtual strap speed factor (1 = real time)")


def virtual_strap(args: argparse.Namespace) -> Any:
    """The VirtualStrap the --virtual options describe."""
    from monitor.ble.virtual import VirtualStrap

    if args.speed <= 0:
        raise StrapError("--speed must be positive")
    return VirtualStrap.from_source(args.source, fs=args.source_fs, speed=args.speed)


async def discover(timeout: float, backend: Any = None) -> list[FoundStrap]:
    kwargs: dict[str, Any] = {} if backend is None else {"backend": backend}
    found = await BleakScanner.discover(timeout=timeout, return_adv=True, **kwargs)
    out = [
        FoundStrap(adv.local_name or device.name or "", device.address, adv.rssi,
                   classify(device, adv))
        for device, adv in found.values()
    ]
    return sorted(out, key=lambda s: -s.rssi)


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise StrapError("--timeout must be positive")
    backend = virtual_strap(args).scanner_backend if args.virtual else None
    try:
        straps = asyncio.run(discover(args.timeout / (args.speed if args.virtual else 1.0),
                                      backend))
    except Exception as exc:  # the CLI edge: any stack failure becomes one line
        reason = bluetooth_unavailable(exc)
        if reason is None and not isinstance(exc, (BleakError, OSError)):
            reason = f"scan failed: {type(exc).__name__}: {exc}"
        raise StrapError(reason or f"scan failed: {exc}") from None
    if not args.all:
        straps = [s for s in straps if s.streams]
    if args.json:
        for strap in straps:
            print(json.dumps(asdict(strap)))
        return 0
    if not straps:
        print(f"no straps found in {args.timeout:g} s (is the strap worn and not connected "
              "to another app?)")
        return 0
    print(f"{'NAME':<24} {'ADDRESS':<20} {'RSSI':>5}  STREAMS")
    for strap in straps:
        name = strap.name or "?"
        print(f"{name:<24} {strap.address:<20} {strap.rssi:>5}  {strap.streams or '-'}")
    return 0
