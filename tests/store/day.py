"""A synthetic day of records with distinctive byte strings, for the zero-plaintext test.

Run as a subprocess (`python -m tests.store.day LOG PUBKEY`) so that SQLite's
temporary-file folder can be pointed at a folder the test inspects.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np

from monitor.classify.beat import ClassifiedBeat
from monitor.store import BeatBatch, EcgBlock, Event, LogWriter, Payload, Recipient
from monitor.store.records import encode_payload, frame, record_type_of

FS = 130.0
BLOCK = 1300
BLOCKS_PER_DAY = 8640
T0 = 1_764_057_600_000_000_000


def day_samples() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(BLOCK * BLOCKS_PER_DAY) / FS
    ecg = 800 * np.sin(2 * np.pi * 1.2 * t) ** 15 + rng.normal(0, 25, t.size)
    return np.round(ecg).astype(np.int16)


def day_payloads() -> list[Payload]:
    samples = day_samples()
    out: list[Payload] = []
    for i in range(BLOCKS_PER_DAY):
        t0 = T0 + i * 10_000_000_000
        out.append(EcgBlock(t0, FS, samples[i * BLOCK : (i + 1) * BLOCK]))
        out.append(BeatBatch(T0, FS, tuple(
            ClassifiedBeat(i * BLOCK + k * 108, (i * BLOCK + k * 108) / FS, "NSVFQ"[k % 5],
                           0.75, 108 / FS, 108 / FS) for k in range(12))))
        if i % 360 == 0:
            out.append(Event("episode", f"ZQXJ-afib-marker-{i}", t0, t0 + 60 * 10**9,
                             {"note": f"PATIENT-NOTE-{i:05d}", "mean_hr": 131}))
            out.append(Event("alert", "SENTINEL-ALERT-pause", t0, None, {"pause_s": 3.2}))
    return out


def distinctive_strings(payloads: list[Payload]) -> list[bytes]:
    """Byte strings that would betray plaintext if found on disk."""
    found: list[bytes] = []
    for n, p in enumerate(payloads):
        if isinstance(p, Event):
            found += [p.kind.encode(), str(p.data.get("note", "SENTINEL")).encode()]
            found += [p.t_ns.to_bytes(8, "big"), p.t_ns.to_bytes(8, "little"),
                      str(p.t_ns).encode()]
        elif isinstance(p, EcgBlock) and n % 997 == 0:
            raw = p.samples_uv
            found += [raw[100:116].astype("<i2").tobytes(), raw[100:116].astype(">i2").tobytes(),
                      raw[100:116].astype("<i4").tobytes()]
            found += [p.t0_ns.to_bytes(8, "big"), p.t0_ns.to_bytes(8, "little"),
                      str(p.t0_ns).encode()]
            plain = frame(record_type_of(p), encode_payload(p))
            found += [plain[:24], plain[200:224], zlib.compress(encode_payload(p))[:24]]
    return found


class StepClock:
    """Ten seconds per call: the writer rotates hourly in simulated time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 10.0
        return self.now


if __name__ == "__main__":
    log, key = Path(sys.argv[1]), Recipient.parse(sys.argv[2])
    payloads = day_payloads()
    writer = LogWriter(log, [key], clock=StepClock())
    for h in range(0, len(payloads), 500):
        assert writer.append_many(payloads[h : h + 500])
    for i in range(200):  # and one record at a time, the daemon's way
        assert writer.append(payloads[i % len(payloads)])
    print("written", flush=True)
    sys.stdin.readline()  # the test looks at the files while the writer is still open
    writer.close()
    print("closed", flush=True)
