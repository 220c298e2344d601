"""What the log stores, as plain values, and their byte encodings (log format v1).

Three payload shapes cover everything: a block of raw ECG, a batch of classified
beats, and a generic event (episode, alert, device event, summary) carrying a
`kind` string and a JSON-able dict, so the rhythm analysis and the daemon can store
their own events without changes here.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from monitor.classify.beat import ClassifiedBeat


class RecordType(IntEnum):
    ECG = 1
    BEATS = 2
    EPISODE = 3
    ALERT = 4
    DEVICE = 5
    SUMMARY = 6
    CLOSE = 127


EVENT_TYPES = {
    "episode": RecordType.EPISODE,
    "alert": RecordType.ALERT,
    "device": RecordType.DEVICE,
    "summary": RecordType.SUMMARY,
}
EVENT_CATEGORIES = {v: k for k, v in EVENT_TYPES.items()}


@dataclass(frozen=True, eq=False)
class EcgBlock:
    """Consecutive raw ECG samples in integer microvolts (int16 or int32)."""

    t0_ns: int
    fs: float
    samples_uv: np.ndarray

    def __post_init__(self) -> None:
        if self.samples_uv.dtype not in (np.int16, np.int32):
            raise ValueError("EcgBlock samples must be int16 or int32 microvolts")

    @property
    def end_ns(self) -> int:
        return self.t0_ns + round(len(self.samples_uv) * 1e9 / self.fs)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, EcgBlock) and self.t0_ns == other.t0_ns
                and self.fs == other.fs and self.samples_uv.dtype == other.samples_uv.dtype
                and np.array_equal(self.samples_uv, other.samples_uv))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class BeatBatch:
    """Classified beats of one stream; `stream_t0_ns` is host time of sample index 0.

    fs is the working rate the beat indices count at (130 Hz); it places beats in time
    and lets the encoder predict time_s and RR from the index (stored losslessly).
    """

    stream_t0_ns: int
    fs: float
    beats: tuple[ClassifiedBeat, ...]

    def beat_time_ns(self, beat: ClassifiedBeat) -> int:
        return self.stream_t0_ns + round(beat.time_s * 1e9)


@dataclass(frozen=True)
class Event:
    """An episode, alert, device event or summary: a category, a kind and free data.

    category: one of "episode", "alert", "device", "summary".
    kind: the producer's name for it, e.g. "afib", "pause", "disconnected", "hourly".
    t_ns: host time it starts (ns since the epoch); end_ns when it has a duration.
    data: JSON-able details (numbers, strings, lists, dicts).
    """

    category: str
    kind: str
    t_ns: int
    end_ns: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.category not in EVENT_TYPES:
            raise ValueError(f"event category must be one of {sorted(EVENT_TYPES)}")


Payload = EcgBlock | BeatBatch | Event


def payload_time_range(payload: Payload) -> tuple[int, int]:
    """(start_ns, end_ns) of what a payload covers."""
    if isinstance(payload, EcgBlock):
        return payload.t0_ns, payload.end_ns
    if isinstance(payload, BeatBatch):
        if not payload.beats:
            return payload.stream_t0_ns, payload.stream_t0_ns
        times = [payload.beat_time_ns(b) for b in payload.beats]
        return min(times), max(times)
    return payload.t_ns, payload.end_ns if payload.end_ns is not None else payload.t_ns


# --- ECG: first differences, zigzag, LEB128 varints (vectorised) -------------------------

_ECG_HEAD = struct.Struct(">qdBI")


def _varint_encode(values: np.ndarray) -> bytes:
    z = ((values << 1) ^ (values >> 63)).astype(np.uint64)
    nbytes = np.ones(len(z), dtype=np.int64)
    for k in range(1, 10):
        nbytes += z >= np.uint64(1 << (7 * k))
    out = np.zeros(int(nbytes.sum()), dtype=np.uint8)
    pos = np.concatenate(([0], np.cumsum(nbytes)[:-1]))
    for k in range(int(nbytes.max(initial=1))):
        m = nbytes > k
        byte = ((z[m] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        byte |= np.where(nbytes[m] > k + 1, 0x80, 0).astype(np.uint8)
        out[pos[m] + k] = byte
    return out.tobytes()


def _varint_decode(data: bytes, count: int) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw < 0x80)
    if len(ends) != count or (count and ends[-1] != len(raw) - 1):
        raise ValueError("ECG sample stream is malformed")
    starts = np.concatenate(([0], ends[:-1] + 1))
    z = np.zeros(count, dtype=np.uint64)
    lengths = ends - starts + 1
    for k in range(int(lengths.max(initial=1))):
        m = lengths > k
        z[m] |= (raw[starts[m] + k] & np.uint8(0x7F)).astype(np.uint64) << np.uint64(7 * k)
    return (z >> np.uint64(1)).astype(np.int64) ^ -(z & np.uint64(1)).astype(np.int64)


def encode_ecg(block: EcgBlock) -> bytes:
    samples = block.samples_uv.astype(np.int64)
    deltas = np.diff(samples, prepend=np.int64(0))
    width = block.samples_uv.dtype.itemsize
    return _ECG_HEAD.pack(block.t0_ns, block.fs, width, len(samples)) + _varint_encode(deltas)


def decode_ecg(data: bytes) -> EcgBlock:
    t0_ns, fs, width, count = _ECG_HEAD.unpack_from(data)
    dtype = {2: np.int16, 4: np.int32}.get(width)
    if dtype is None:
        raise ValueError("ECG block has an unknown sample width")
    samples = np.cumsum(_varint_decode(data[_ECG_HEAD.size:], count)).astype(dtype)
    return EcgBlock(t0_ns, fs, samples)


# --- Beats: columns, floats XORed with their prediction from the index, byte-shuffled ---

_BEATS_HEAD = struct.Struct(">qdI")


def _shuffle(values: np.ndarray) -> bytes:
    """Byte planes of float64s (like blosc's shuffle): similar bytes end up together."""
    return values.astype(">f8").view(np.uint8).reshape(-1, 8).T.tobytes()


def _unshuffle(data: bytes, count: int) -> np.ndarray:
    planes = np.frombuffer(data, dtype=np.uint8).reshape(8, count)
    return planes.T.copy().view(">f8").reshape(count).astype(np.float64)


def _xor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    bits = a.astype(np.float64).view(np.uint64) ^ b.astype(np.float64).view(np.uint64)
    return bits.view(np.float64)


def encode_beats(batch: BeatBatch) -> bytes:
    beats = batch.beats
    n = len(beats)
    labels = sorted({b.label for b in beats})
    if len(labels) > 255:
        raise ValueError("too many distinct beat labels in one batch")
    label_table = bytes([len(labels)]) + b"".join(
        bytes([len(lab.encode())]) + lab.encode() for lab in labels)
    index = np.array([b.index for b in beats], dtype=np.int64)
    codes = np.array([labels.index(b.label) for b in beats], dtype=np.uint8)
    flags = np.array([(b.noisy << 0) | ((b.rr_before_s is not None) << 1)
                      | ((b.rr_after_s is not None) << 2) for b in beats], dtype=np.uint8)
    fs = batch.fs
    rr_idx = np.diff(index, prepend=index[:1]) / fs if n else np.zeros(0)
    rr_next = np.append(rr_idx[1:], 0.0) if n else np.zeros(0)
    time_s = _xor(np.array([b.time_s for b in beats], dtype=np.float64), index / fs)
    conf = np.array([b.confidence for b in beats], dtype=np.float64)
    rr_b = _xor(np.array([b.rr_before_s or 0.0 for b in beats], dtype=np.float64), rr_idx)
    rr_a = _xor(np.array([b.rr_after_s or 0.0 for b in beats], dtype=np.float64), rr_next)
    first = int(index[0]) if n else 0
    return b"".join([
        _BEATS_HEAD.pack(batch.stream_t0_ns, fs, n), label_table,
        struct.pack(">q", first), _varint_encode(np.diff(index, prepend=np.int64(first))),
        codes.tobytes(), flags.tobytes(),
        _shuffle(time_s), _shuffle(conf), _shuffle(rr_b), _shuffle(rr_a),
    ])


def decode_beats(data: bytes) -> BeatBatch:
    t0, fs, n = _BEATS_HEAD.unpack_from(data)
    pos = _BEATS_HEAD.size
    labels = []
    for _ in range(data[pos]):
        length = data[pos + 1]
        labels.append(data[pos + 2 : pos + 2 + length].decode())
        pos += 1 + length
    pos += 1
    (first,) = struct.unpack_from(">q", data, pos)
    pos += 8
    tail = 2 * n + 32 * n
    varints = data[pos : len(data) - tail]
    index = first + np.cumsum(_varint_decode(varints, n))
    pos = len(data) - tail
    codes = np.frombuffer(data, dtype=np.uint8, count=n, offset=pos)
    flags = np.frombuffer(data, dtype=np.uint8, count=n, offset=pos + n)
    cols = [_unshuffle(data[pos + 2 * n + 8 * n * i : pos + 2 * n + 8 * n * (i + 1)], n)
            for i in range(4)]
    rr_idx = np.diff(index, prepend=index[:1]) / fs if n else np.zeros(0)
    rr_next = np.append(rr_idx[1:], 0.0) if n else np.zeros(0)
    time_s = _xor(cols[0], index / fs)
    rr_b = _xor(cols[2], rr_idx)
    rr_a = _xor(cols[3], rr_next)
    beats = tuple(
        ClassifiedBeat(
            index=int(index[i]), time_s=float(time_s[i]), label=labels[codes[i]],
            confidence=float(cols[1][i]),
            rr_before_s=float(rr_b[i]) if flags[i] & 2 else None,
            rr_after_s=float(rr_a[i]) if flags[i] & 4 else None,
            noisy=bool(flags[i] & 1),
        )
        for i in range(n)
    )
    return BeatBatch(t0, fs, beats)


# --- Events: JSON --------------------------------------------------------------------------

def encode_event(event: Event) -> bytes:
    doc = {"kind": event.kind, "t_ns": event.t_ns, "end_ns": event.end_ns, "data": dict(event.data)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def decode_event(category: str, data: bytes) -> Event:
    doc = json.loads(data.decode())
    return Event(category, doc["kind"], doc["t_ns"], doc["end_ns"], doc["data"])


# --- Framing: type, codec, length, payload, zero padding to a size bucket -----------------

_FRAME = struct.Struct(">BBI")
CODEC_NONE = 0
CODEC_ZLIB = 1
MIN_BUCKET = 64


def bucket_size(n: int) -> int:
    """Smallest size >= n of the form m * 2^k with 8 <= m <= 15 (at least 64).

    Eight buckets per octave: at most 12.5 % padding, while a record's length only
    reveals its size class.
    """
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    shift = n.bit_length() - 4
    return -(-n >> shift) << shift


def record_type_of(payload: Payload) -> RecordType:
    if isinstance(payload, EcgBlock):
        return RecordType.ECG
    if isinstance(payload, BeatBatch):
        return RecordType.BEATS
    return EVENT_TYPES[payload.category]


def encode_payload(payload: Payload) -> bytes:
    if isinstance(payload, EcgBlock):
        return encode_ecg(payload)
    if isinstance(payload, BeatBatch):
        return encode_beats(payload)
    return encode_event(payload)


def frame(rtype: RecordType, body: bytes, *, compress: bool = True, level: int = 6) -> bytes:
    """Padded plaintext of a record: header, (compressed) body, zeros up to the bucket."""
    codec = CODEC_NONE
    if compress:
        packed = zlib.compress(body, level)
        if len(packed) < len(body):
            body, codec = packed, CODEC_ZLIB
    plain = _FRAME.pack(rtype, codec, len(body)) + body
    return plain + bytes(bucket_size(len(plain)) - len(plain))


def unframe(padded: bytes) -> tuple[RecordType, bytes]:
    rtype, codec, length = _FRAME.unpack_from(padded)
    end = _FRAME.size + length
    if end > len(padded) or any(padded[end:]):
        raise ValueError("record padding is malformed")
    body = padded[_FRAME.size:end]
    if codec == CODEC_ZLIB:
        body = zlib.decompress(body)
    elif codec != CODEC_NONE:
        raise ValueError(f"unknown record codec {codec}")
    return RecordType(rtype), body


def decode_payload(rtype: RecordType, body: bytes) -> Payload | None:
    """The payload of a record; None for the close record."""
    if rtype == RecordType.ECG:
        return decode_ecg(body)
    if rtype == RecordType.BEATS:
        return decode_beats(body)
    if rtype == RecordType.CLOSE:
        return None
    return decode_event(EVENT_CATEGORIES[rtype], body)


def close_body(count: int) -> bytes:
    """The close record says how many records precede it in its segment."""
    return struct.pack(">I", count)
