"""Fixed inputs of the log format known-answer vectors (tests/vectors/store_v<N>.json).

store_v1.json was written by format v1 writers and is kept to prove v1 logs stay
readable; store_v2.json is what today's writer must reproduce. Regenerate the
current version's bytes only when the format version changes:
`python scripts/make_store_vectors.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from monitor.classify.beat import ClassifiedBeat
from monitor.store import BeatBatch, EcgBlock, Event, Identity, LogWriter, Payload

RECIPIENT_PRIVATE = bytes(range(1, 33))
FILE_KEY = bytes.fromhex("a0" * 16 + "b1" * 16)
SEGMENT_ID = bytes.fromhex("5e" * 16)
EPHEMERAL_PRIVATE = bytes(range(100, 132))


def identity() -> Identity:
    return Identity(X25519PrivateKey.from_private_bytes(RECIPIENT_PRIVATE), "patient", "kat")


def fixed_random() -> Callable[[int], bytes]:
    """Hands out the file key, the segment id, then the ephemeral key, in the writer's order."""
    chunks = [FILE_KEY, SEGMENT_ID, EPHEMERAL_PRIVATE]

    def take(n: int) -> bytes:
        chunk = chunks.pop(0)
        assert len(chunk) == n
        return chunk

    return take


def payloads() -> list[Payload]:
    t0 = 1_764_057_600_000_000_000
    return [
        EcgBlock(t0, 130.0, np.array([0, 12, -7, 300, 1200, -450, 8, 8, 9], dtype=np.int16)),
        BeatBatch(
            t0,
            130.0,
            (
                ClassifiedBeat(130, 1.0, "N", 0.96875, None, 0.8),
                ClassifiedBeat(234, 1.8, "V", 0.5, 0.8, None, noisy=True),
            ),
        ),
        Event("alert", "pause", t0 + 5_000_000_000, None, {"pause_s": 3.25}),
    ]


def payloads_v2() -> list[Payload]:
    """v1's payloads plus ECG blocks for each v2 coding path: int32 samples on a 5 uV
    grid (common step 5), a jump across the whole int32 range (byte planes), one sample
    and an empty block."""
    t0 = 1_764_057_600_000_000_000 + 10_000_000_000
    grid = np.array([-5, 0, 40_000, 39_995, -70_000, 5, 10, 10, 10, 0, -15], dtype=np.int32)
    wild = np.array([2**31 - 1, -(2**31), 2**31 - 1, 0], dtype=np.int32)
    return [
        *payloads(),
        EcgBlock(t0, 130.0, grid),
        EcgBlock(t0 + 1_000_000_000, 130.0, wild),
        EcgBlock(t0 + 2_000_000_000, 250.0, np.array([-3], dtype=np.int16)),
        EcgBlock(t0 + 3_000_000_000, 130.0, np.zeros(0, dtype=np.int16)),
    ]


def write_vector_log(
    path: Path, compress: bool, contents: list[Payload] | None = None
) -> list[bytes]:
    """Write the vector log with fixed keys; return [header, stanza, *record bodies]."""
    with LogWriter(
        path, [identity().recipient], random_bytes=fixed_random(), compress=compress
    ) as writer:
        for p in payloads_v2() if contents is None else contents:
            writer.append(p)
    conn = sqlite3.connect(path)
    header = conn.execute("SELECT header FROM segments").fetchone()[0]
    stanza = conn.execute("SELECT body FROM stanzas").fetchone()[0]
    bodies = [r[0] for r in conn.execute("SELECT body FROM records ORDER BY id")]
    conn.close()
    return [header, stanza, *bodies]
