"""Measuring the log writer: throughput and bytes per 24 h (used by scripts/bench_store.py
and, later, scripts/bench.py).

The day written is either real ECG (the 48 MIT-BIH Arrhythmia records, each 30 min, lead
MLII resampled to 130 Hz: exactly 24 h) with their reference beats as classified beats,
or, without the data, a synthetic ECG-like signal. It is written the way the daemon
writes: one 10 s ECG block and one beat batch at a time, each committed, hourly
summaries, hourly segment rotation (simulated clock).
"""

from __future__ import annotations

import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from monitor.classify.beat import ClassifiedBeat
from monitor.store import ecgcodec
from monitor.store.crypto import RECORD_PREFIX, TAG_SIZE
from monitor.store.keys import Identity, Recipient
from monitor.store.reader import LogReader
from monitor.store.records import (
    FRAME_HEADER_SIZE,
    BeatBatch,
    EcgBlock,
    Event,
    Payload,
    RecordType,
    encode_payload,
    frame,
    record_type_of,
)
from monitor.store.writer import LogWriter

FS = 130.0
DAY_S = 86_400


@dataclass(frozen=True)
class DaySource:
    """A stream of int16 µV samples at FS with beat indices and AAMI labels."""

    name: str
    samples_uv: np.ndarray
    beat_index: np.ndarray
    beat_label: np.ndarray


@dataclass(frozen=True)
class StoreMeasurement:
    source: str
    hours: float
    records: int
    ecg_samples: int
    beats: int
    ecg_payload_bytes: int
    log_bytes: int
    cpu_s: float
    wall_s: float
    seal_cpu_s: float
    block_cpu_s: float
    batch_cpu_s: float
    stored_by_type: dict[str, int] = field(default_factory=dict)
    """Bytes of stored record bodies (prefix, padded ciphertext, tag) per record type."""
    padding_bytes: int = 0
    """Zero bytes added to reach the size buckets, over all records."""
    difference_entropy_bits: float = 0.0
    """Zero-order entropy of the ECG's first differences, bits per sample (a reference for
    the coded size: what a coder of independent differences with one fixed table needs)."""
    ecg_body_bits: float = 0.0
    """Coded ECG bits per sample: ECG block bodies (block header included), no framing."""
    read_cpu_s: float = 0.0
    """CPU s to read the whole log back with an identity (authenticate and decode all)."""
    codec_us: dict[str, float] = field(default_factory=dict)
    """CPU microseconds per ECG block to code it: "v2" (written today), "v1" (zlib)."""
    codec_bits: dict[str, float] = field(default_factory=dict)
    """Coded ECG bits per sample, block headers included, per format version."""

    @property
    def record_bytes(self) -> int:
        return sum(self.stored_by_type.values())

    @property
    def sqlite_overhead_bytes(self) -> int:
        """Database file minus the record bodies: SQLite pages, cells, headers, stanzas."""
        return self.log_bytes - self.record_bytes

    @property
    def bytes_per_24h(self) -> float:
        return self.log_bytes * 24.0 / self.hours

    @property
    def writer_mb_per_s(self) -> float:
        """Raw ECG payload (sample bytes as given) per CPU second, whole daemon-style write."""
        return self.ecg_payload_bytes / 1e6 / max(self.cpu_s, 1e-9)

    @property
    def block_mb_per_s(self) -> float:
        """Raw ECG payload per CPU second when each block and its beats share a commit."""
        return self.ecg_payload_bytes / 1e6 / max(self.block_cpu_s, 1e-9)

    @property
    def batch_mb_per_s(self) -> float:
        """Raw ECG payload per CPU second when the writer commits an hour at a time."""
        return self.ecg_payload_bytes / 1e6 / max(self.batch_cpu_s, 1e-9)

    @property
    def seal_mb_per_s(self) -> float:
        """Raw ECG payload per CPU second of encode + compress + pad + AEAD alone."""
        return self.ecg_payload_bytes / 1e6 / max(self.seal_cpu_s, 1e-9)

    def render(self) -> str:
        return "\n".join(
            [
                f"source: {self.source} ({self.hours:.1f} h at {FS:.0f} Hz, "
                f"{self.ecg_samples} samples, {self.beats} beats, {self.records} records)",
                f"log size: {self.log_bytes / 1e6:.2f} MB -> "
                f"{self.bytes_per_24h / 1e6:.2f} MB per 24 h",
                f"writer (one commit per record, as the daemon): {self.cpu_s:.2f} s CPU, "
                f"{self.wall_s:.2f} s wall -> {self.writer_mb_per_s:.1f} MB/s of raw ECG payload "
                f"({self.ecg_payload_bytes / 1e6:.1f} MB of int16 samples) per CPU second",
                f"writer committing each ECG block with its beats: {self.block_cpu_s:.2f} s CPU -> "
                f"{self.block_mb_per_s:.1f} MB/s of raw ECG payload",
                f"writer committing an hour at a time: {self.batch_cpu_s:.2f} s CPU -> "
                f"{self.batch_mb_per_s:.1f} MB/s of raw ECG payload",
                f"ECG blocks alone, encode+compress+pad+seal (no SQLite): "
                f"{self.seal_mb_per_s:.1f} MB/s of raw ECG payload",
                f"reading it all back (authenticate + decode every record): "
                f"{self.read_cpu_s:.2f} s CPU",
                "stored per 24 h: "
                + ", ".join(
                    f"{name} records {n * 24.0 / self.hours / 1e6:.2f} MB"
                    for name, n in sorted(self.stored_by_type.items())
                )
                + f", SQLite {self.sqlite_overhead_bytes * 24.0 / self.hours / 1e6:.2f} MB; "
                f"ECG coded at {self.ecg_body_bits:.2f} bits per sample (zero-order entropy "
                f"of its first differences {self.difference_entropy_bits:.2f}); "
                f"padding {self.padding_bytes * 24.0 / self.hours / 1e6:.2f} MB "
                f"({100 * self.padding_bytes / max(self.log_bytes, 1):.1f} % of the log)",
            ]
        )


def mitdb_day(data_dir: Path, quantum_uv: int = 1) -> DaySource:
    """The 48 MIT-BIH records end to end at 130 Hz (24 h), with reference beat labels.

    Resampling gives values between MIT-BIH's 5 uV steps; rounding to `quantum_uv` = 1
    keeps that invented detail (a pessimistic case for compression), 5 keeps the
    database's own resolution.
    """
    from monitor.evaluation import AAMI_CLASS, load_reference
    from monitor.signal.resample import resample_record

    parts, idx, labels = [], [], []
    offset = 0
    for header in sorted(data_dir.glob("*.hea")):
        ref = load_reference(header.with_suffix(""))
        x = resample_record(ref.samples_uv, ref.fs, FS)
        x = np.clip(np.rint(x / quantum_uv) * quantum_uv, -32768, 32767)
        parts.append(x.astype(np.int16))
        idx.append(offset + np.rint(ref.beat_samples * FS / ref.fs).astype(np.int64))
        labels.append(np.array([AAMI_CLASS[s] for s in ref.beat_symbols]))
        offset += len(x)
    if not parts:
        raise FileNotFoundError(f"no WFDB records in {data_dir}")
    return DaySource(
        f"MIT-BIH Arrhythmia, {len(parts)} records, rounded to {quantum_uv} uV",
        np.concatenate(parts),
        np.concatenate(idx),
        np.concatenate(labels),
    )


def synthetic_day(hours: float = 24.0, seed: int = 1) -> DaySource:
    """An ECG-like signal (spiky beats at 60-100 bpm, wander, noise) when no data is at hand."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * FS)
    rr = rng.uniform(0.6, 1.0, int(hours * 3600 / 0.6) + 2)
    beat_t = np.cumsum(rr)
    beat_index = np.rint(beat_t[beat_t < n / FS] * FS).astype(np.int64)
    signal = np.zeros(n)
    shape = 1000 * np.exp(-0.5 * ((np.arange(-13, 14)) / 2.0) ** 2)
    for i in beat_index:
        lo, hi = max(0, i - 13), min(n, i + 14)
        signal[lo:hi] += shape[lo - i + 13 : hi - i + 13]
    t = np.arange(n) / FS
    signal += 150 * np.sin(2 * np.pi * 0.2 * t) + rng.normal(0, 12, n)
    labels = rng.choice(np.array(["N", "S", "V"]), len(beat_index), p=[0.9, 0.05, 0.05])
    return DaySource("synthetic", np.rint(signal).astype(np.int16), beat_index, labels)


def day_payloads(
    day: DaySource, t0_ns: int, block_s: float = 10.0, hours: float | None = None, seed: int = 2
) -> Iterator[Payload]:
    """What the daemon would store: ECG blocks, beat batches, hourly summaries."""
    rng = np.random.default_rng(seed)
    block = round(block_s * FS)
    n = len(day.samples_uv) if hours is None else min(len(day.samples_uv), int(hours * 3600 * FS))
    # model confidences are float32 probabilities; beats are shaped as the live pipeline
    # emits them (rr_after_s None), so this figure matches the end-to-end replay's log
    confidence = rng.uniform(0.5, 1.0, len(day.beat_index)).astype(np.float32)
    bounds = np.searchsorted(day.beat_index, np.arange(0, n + block, block))
    for k, start in enumerate(range(0, n, block)):
        samples = day.samples_uv[start : min(n, start + block)]
        yield EcgBlock(t0_ns + round(start * 1e9 / FS), FS, samples)
        lo, hi = bounds[k], bounds[k + 1]
        beats = []
        for j in range(lo, hi):
            i = int(day.beat_index[j])
            beats.append(
                ClassifiedBeat(
                    index=i,
                    time_s=i / FS,
                    label=str(day.beat_label[j]),
                    confidence=float(confidence[j]),
                    rr_before_s=(i - int(day.beat_index[j - 1])) / FS if j else None,
                    rr_after_s=None,  # live beats: the classifier does not wait for it
                )
            )
        yield BeatBatch(t0_ns, FS, tuple(beats))
        if (start + block) % int(3600 * FS) < block:
            labels, counts = np.unique(
                day.beat_label[bounds[max(0, k - 359)] : hi], return_counts=True
            )
            yield Event(
                "summary",
                "hourly",
                t0_ns + round(start * 1e9 / FS),
                None,
                {"beats": {str(a): int(b) for a, b in zip(labels, counts, strict=True)}},
            )


class _SimClock:
    """The simulated time of the day being written, so segments rotate hourly."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _commit_groups(payloads: list[Payload], span_s: float | None) -> list[list[Payload]]:
    """Payloads grouped per transaction: each alone (None), or per `span_s` of ECG."""
    if span_s is None:
        return [[p] for p in payloads]
    groups: list[list[Payload]] = []
    start: int | None = None
    for p in payloads:
        if isinstance(p, EcgBlock) and (start is None or p.t0_ns - start >= span_s * 1e9 - 1):
            groups.append([])
            start = p.t0_ns
        if not groups:
            groups.append([])
        groups[-1].append(p)
    return groups


def _timed_write(
    groups: list[list[Payload]],
    recipients: list[Recipient],
    t0_ns: int,
    directory: Path | None,
    reader: Identity | None = None,
) -> tuple[float, float, int, float]:
    """(CPU s, wall s, bytes on disk, CPU s to read it all back with `reader`, 0.0 without)
    of writing the groups into a fresh log."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        path = Path(tmp) / "bench-log.sqlite"
        clock = _SimClock()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        writer = LogWriter(path, recipients, clock=clock)
        for group in groups:
            first = group[0]
            if isinstance(first, EcgBlock):
                clock.now = (first.t0_ns - t0_ns) / 1e9
            writer.append_many(group)
        writer.close()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        size = sum(f.stat().st_size for f in Path(tmp).iterdir() if f.name.startswith(path.name))
        read_cpu = 0.0
        if reader is not None:
            cpu0 = time.process_time()
            with LogReader(path) as log:
                for _ in log.records(reader):
                    pass
            read_cpu = time.process_time() - cpu0
    return cpu, wall, size, read_cpu


def measure_store(
    day: DaySource,
    *,
    hours: float | None = None,
    directory: Path | None = None,
    block_s: float = 10.0,
) -> StoreMeasurement:
    """Write the day into fresh logs (commit per record, per block, per hour) and measure."""
    patient = Identity.generate()
    recipients = [patient.recipient, Identity.generate("clinician").recipient]
    t0_ns = 1_764_057_600_000_000_000
    payloads = list(day_payloads(day, t0_ns, block_s, hours))
    ecg = [p for p in payloads if isinstance(p, EcgBlock)]
    n_samples = sum(len(p.samples_uv) for p in ecg)
    span_h = n_samples / FS / 3600
    cpu, wall, size, read_cpu = _timed_write(
        _commit_groups(payloads, None), recipients, t0_ns, directory, reader=patient
    )
    block_cpu, *_ = _timed_write(_commit_groups(payloads, block_s), recipients, t0_ns, directory)
    batch_cpu, *_ = _timed_write(_commit_groups(payloads, 3600.0), recipients, t0_ns, directory)
    cpu1 = time.process_time()
    aead = ChaCha20Poly1305(bytes(32))
    for k, p in enumerate(ecg):  # the CPU work per ECG block alone, without SQLite
        aead.encrypt(k.to_bytes(12, "big"), frame(RecordType.ECG, encode_payload(p)), b"")
    seal = time.process_time() - cpu1
    stored, padding = _stored_sizes(payloads)
    ecg_bits = 8.0 * sum(len(encode_payload(p)) for p in ecg) / max(n_samples, 1)
    codec_us, codec_bits = compare_ecg_codings(ecg)
    return StoreMeasurement(
        day.name,
        span_h,
        len(payloads),
        n_samples,
        sum(len(p.beats) for p in payloads if isinstance(p, BeatBatch)),
        sum(p.samples_uv.nbytes for p in ecg),
        size,
        cpu,
        wall,
        seal,
        block_cpu,
        batch_cpu,
        stored,
        padding,
        difference_entropy_bits(ecg),
        ecg_bits,
        read_cpu,
        codec_us,
        codec_bits,
    )


def _encode_ecg_v1(block: EcgBlock) -> bytes:
    """The version 1 ECG body as version 1 writers stored it (docs/FORMAT.md): byte planes
    of the zigzagged differences, zlib'd at level 6 when shorter. For comparison only."""
    samples = block.samples_uv
    width, planes = ecgcodec.planes(ecgcodec.zigzag(ecgcodec.first_differences(samples)))
    body = (
        struct.pack(">qdBIB", block.t0_ns, block.fs, samples.dtype.itemsize, len(samples), width)
        + planes
    )
    packed = zlib.compress(body, 6)
    return packed if len(packed) < len(body) else body


def compare_ecg_codings(blocks: list[EcgBlock]) -> tuple[dict[str, float], dict[str, float]]:
    """(CPU us per block, bits per sample) of coding the blocks as format v2 and v1 do."""
    n = max(sum(len(b.samples_uv) for b in blocks), 1)
    us: dict[str, float] = {}
    bits: dict[str, float] = {}
    for name, encode in (("v2", encode_payload), ("v1", _encode_ecg_v1)):
        cpu0 = time.process_time()
        size = sum(len(encode(b)) for b in blocks)
        us[name] = (time.process_time() - cpu0) * 1e6 / max(len(blocks), 1)
        bits[name] = 8.0 * size / n
    return us, bits


def difference_entropy_bits(blocks: list[EcgBlock]) -> float:
    """Zero-order entropy (bits per sample) of the first differences within the blocks."""
    diffs = [np.diff(b.samples_uv.astype(np.int64), prepend=np.int64(0)) for b in blocks]
    if not diffs:
        return 0.0
    d = np.concatenate(diffs)
    counts = np.bincount(d - d.min())
    p = counts[counts > 0] / len(d)
    return float(-(p * np.log2(p)).sum())


def _stored_sizes(payloads: list[Payload]) -> tuple[dict[str, int], int]:
    """(stored body bytes per record type, padding bytes) of the payloads as the writer
    frames them (close records, a few per day, are left out)."""
    stored: dict[str, int] = {}
    padding = 0
    overhead = RECORD_PREFIX.size + TAG_SIZE
    for p in payloads:
        rtype = record_type_of(p)
        body = encode_payload(p)
        padded = frame(rtype, body)
        unpadded = FRAME_HEADER_SIZE + int.from_bytes(padded[2:6], "big")
        padding += len(padded) - unpadded
        name = rtype.name.lower()
        stored[name] = stored.get(name, 0) + len(padded) + overhead
    return stored, padding
