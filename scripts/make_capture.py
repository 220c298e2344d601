"""Make the capture fixtures in fixtures/captures/ from the synthetic ECG.

The virtual H10 plays `monitor.ble.synthetic.synthetic_ecg` (never a PhysioNet
record), the real session code records every notification exactly as
`ecgmon record` would, on a virtual-time loop with a fixed host start time, so
the files are byte-identical on every run:

    python scripts/make_capture.py --out-dir fixtures/captures

h10_synthetic_60s.jsonl  a clean minute of ECG + heart rate + battery.
h10_faults_60s.jsonl     the same minute with frames dropped (10, 40-41), duplicated (20),
                         swapped (30/31) and one malformed (50), for replay tests.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path

from monitor.ble.capture import CaptureWriter
from monitor.ble.events import StreamStopped
from monitor.ble.session import SessionConfig, StrapSession
from monitor.ble.simtime import run_virtual
from monitor.ble.synthetic import synthetic_ecg
from monitor.ble.virtual import Faults, VirtualStrap

HOST_START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, so the files never change

FIXTURES = {
    "h10_synthetic_60s.jsonl": Faults(),
    "h10_faults_60s.jsonl": Faults(
        drop=frozenset({10, 40, 41}),
        duplicate=frozenset({20}),
        reorder=frozenset({30}),
        malformed=frozenset({50}),
    ),
}


def record(out: Path, faults: Faults, seconds: float = 60.0) -> int:
    """Record one capture; returns the number of notifications written."""
    samples, peaks = synthetic_ecg(seconds, 130.0, seed=11)
    strap = VirtualStrap(samples, 130.0, faults=faults, r_peaks=peaks, host_start_ns=HOST_START_NS)

    async def main() -> int:
        writer: CaptureWriter | None = None

        def observe(char: str, kind: str, data: bytes, t_ns: int) -> None:
            nonlocal writer
            if writer is None:
                writer = CaptureWriter(out, strap.name, strap.address, t_ns)
            writer.write(char, kind, data, t_ns)

        session = StrapSession(
            SessionConfig(),
            scanner_backend=strap.scanner_backend,
            client_backend=strap.client_backend,
            clock=strap.clock,
            rng=random.Random(0),
            raw_observer=observe,
        )
        async with asyncio.timeout(seconds * 4), session:
            async for item in session.stream():
                if isinstance(item, StreamStopped):
                    break
        assert writer is not None
        writer.close()
        return writer.count

    return run_virtual(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("fixtures/captures"))
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, faults in FIXTURES.items():
        path = args.out_dir / name
        path.unlink(missing_ok=True)
        count = record(path, faults)
        print(f"{path}: {count} notifications, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
