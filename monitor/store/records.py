"""What the log stores, as plain values, and their byte encodings (log format v2; v1 read).

Three payload shapes cover everything: a block of raw ECG, a batch of classified
beats, and a generic event (episode, alert, device event, summary) carrying a
`kind` string and a JSON-able dict, so the rhythm analysis and the daemon can store
their own events without changes here.
"""

from __future__ import annotations

import itertools
import json
import operator
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from monitor.classify.beat import ClassifiedBeat
from monitor.store import ecgcodec
from monitor.store.crypto import FORMAT_VERSION


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

    @classmethod
    def from_uv(cls, t0_ns: int, fs: float, samples_uv: np.ndarray) -> EcgBlock:
        """From float microvolts (an `EcgFrame`'s samples): rounded to whole uV, int16
        when every value fits, else int32."""
        rounded = np.rint(np.asarray(samples_uv, dtype=np.float64))
        if rounded.size and not np.isfinite(rounded).all():
            raise ValueError("ECG samples must be finite")
        fits16 = rounded.size == 0 or (rounded.min() >= -32768 and rounded.max() <= 32767)
        return cls(t0_ns, fs, rounded.astype(np.int16 if fits16 else np.int32))

    @property
    def end_ns(self) -> int:
        return self.t0_ns + round(len(self.samples_uv) * 1e9 / self.fs)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, EcgBlock)
            and self.t0_ns == other.t0_ns
            and self.fs == other.fs
            and self.samples_uv.dtype == other.samples_uv.dtype
            and np.array_equal(self.samples_uv, other.samples_uv)
        )

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


# --- ECG ----------------------------------------------------------------------------------
#
# Version 2 (written): first differences, Rice-coded per partition of 8 samples, see
# monitor/store/ecgcodec.py (7.9 bits per sample on MIT-BIH at 130 Hz and 1 uV where zlib
# on byte planes needed 8.5, and less CPU: docs/STORE.md compares them).
# Version 1 (read only): first differences, zigzag, byte planes, then zlib in the frame.

_ECG_HEAD = struct.Struct(">qdBI")
"""t0_ns, fs, sample width (2 or 4 bytes), sample count."""
_ECG_HEAD_V1 = struct.Struct(">qdBIB")
"""Version 1: t0_ns, fs, sample width, sample count, plane count (2, 4 or 8)."""
_SAMPLE_DTYPES = {2: np.int16, 4: np.int32}

_zigzag = ecgcodec.zigzag
_unzigzag = ecgcodec.unzigzag
_planes = ecgcodec.planes
_unplanes = ecgcodec.unplanes


MAX_ECG_RECORD_SAMPLES = 2048
"""Longest ECG record the writer stores; longer blocks are split evenly (see split_ecg).

Records share 16 kB SQLite pages: ~2 kB records fill them to ~95 %, while one 60 s block
(~8 kB at 130 Hz) leaves most of a page empty because two rarely fit (a third of the file
was empty page space in the end-to-end replay, which hands the sink 60 s frames)."""


def _ecg_bounds(n: int, max_samples: int) -> list[int]:
    """Piece boundaries of an n-sample block: at most max_samples each, near-equal."""
    parts = max(1, -(-n // max_samples))
    return [n * k // parts for k in range(parts + 1)]


def split_ecg(block: EcgBlock, max_samples: int = MAX_ECG_RECORD_SAMPLES) -> list[EcgBlock]:
    """`block` as consecutive blocks of at most `max_samples`, of near-equal length.

    Each piece's t0_ns is the original t0 plus its first sample's offset, rounded to the
    nanosecond; the samples are untouched, so concatenating the pieces gives the block."""
    bounds = _ecg_bounds(len(block.samples_uv), max_samples)
    if len(bounds) <= 2:
        return [block]
    return [
        EcgBlock(block.t0_ns + round(a * 1e9 / block.fs), block.fs, block.samples_uv[a:b].copy())
        for a, b in itertools.pairwise(bounds)
    ]


def encode_ecg(block: EcgBlock) -> bytes:
    samples = block.samples_uv
    head = _ECG_HEAD.pack(block.t0_ns, block.fs, samples.dtype.itemsize, len(samples))
    return head + ecgcodec.encode_samples(samples)


def decode_ecg(data: bytes, version: int = FORMAT_VERSION) -> EcgBlock:
    if version == 1:
        return _decode_ecg_v1(data)
    t0_ns, fs, itemsize, count = _ECG_HEAD.unpack_from(data)
    dtype = _SAMPLE_DTYPES.get(itemsize)
    if dtype is None:
        raise ValueError("ECG block has an unknown sample width")
    samples = ecgcodec.decode_samples(memoryview(data)[_ECG_HEAD.size :], count)
    top = 1 << (8 * itemsize - 1)
    if count and (int(samples.min()) < -top or int(samples.max()) >= top):
        raise ValueError("ECG block's samples do not fit its sample width")
    return EcgBlock(t0_ns, fs, samples.astype(dtype))


def _decode_ecg_v1(data: bytes) -> EcgBlock:
    t0_ns, fs, itemsize, count, width = _ECG_HEAD_V1.unpack_from(data)
    dtype = _SAMPLE_DTYPES.get(itemsize)
    if dtype is None:
        raise ValueError("ECG block has an unknown sample width")
    deltas = _unzigzag(_unplanes(data[_ECG_HEAD_V1.size :], width, count))
    return EcgBlock(t0_ns, fs, np.cumsum(deltas).astype(dtype))


# --- Beats: columns, floats XORed with their prediction from the index, byte planes -------
#
# time_s and the RR intervals are usually exactly index / fs and index differences / fs;
# XOR with that prediction leaves zero bits that compress to almost nothing, while any
# other value still round-trips exactly.

_BEATS_HEAD = struct.Struct(">qdIq")
"""stream_t0_ns, fs, beat count, first index."""


def _predictions(index: np.ndarray, fs: float) -> np.ndarray:
    """(4, n) predicted time_s, confidence (none: 0), rr_before_s, rr_after_s."""
    n = len(index)
    pred = np.zeros((4, n))
    if n:
        np.divide(index, fs, out=pred[0])
        np.divide(index[1:] - index[:-1], fs, out=pred[2, 1:])
        pred[3, :-1] = pred[2, 1:]
    return pred


_BEAT_FIELDS = operator.attrgetter(
    "index", "time_s", "label", "confidence", "rr_before_s", "rr_after_s", "noisy"
)


def encode_beats(batch: BeatBatch) -> bytes:
    """One pass over the beats to pull their fields into columns, the rest in numpy
    (a day's 110,000 beats cost about as much as a few hundred records otherwise)."""
    beats = batch.beats
    n = len(beats)
    if n:
        index_c, time_c, label_c, conf_c, before_c, after_c, noisy_c = zip(
            *map(_BEAT_FIELDS, beats), strict=True
        )
    else:
        index_c = time_c = label_c = conf_c = before_c = after_c = noisy_c = ()
    labels = sorted(set(label_c))
    if len(labels) > 255:
        raise ValueError("too many distinct beat labels in one batch")
    encoded = [lab.encode() for lab in labels]
    label_table = bytes([len(labels)]) + b"".join(bytes([len(e)]) + e for e in encoded)
    codes = bytes(map({lab: i for i, lab in enumerate(labels)}.__getitem__, label_c))
    index = np.array(index_c, dtype=np.int64).reshape(n)
    pred = _predictions(index, batch.fs)
    values = np.empty((4, n))
    values[0] = time_c
    values[1] = conf_c
    flags = np.array(noisy_c, dtype=np.uint8).reshape(n)
    # An absent RR (the first beat's rr_before, every live beat's rr_after: the classifier
    # does not wait for the next R-peak) is stored as its prediction, so its bits XOR to
    # zero; the flag says it is absent and the reader ignores the value.
    for row, column in ((2, before_c), (3, after_c)):
        values[row] = column  # None becomes NaN here
        absent = column.count(None)
        if not absent:
            flags |= 1 << (row - 1)
            continue
        missing = np.isnan(values[row])
        if absent != np.count_nonzero(missing):  # some NaN was given as a value
            missing = np.array([v is None for v in column], dtype=bool)
        values[row, missing] = pred[row, missing]
        flags |= (~missing).view(np.uint8) << (row - 1)
    bits = values.view(np.uint64) ^ pred.view(np.uint64)
    first = int(index[0]) if n else 0
    steps = np.empty(n, dtype=np.int64)
    steps[:1] = 0
    np.subtract(index[1:], index[:-1], out=steps[1:])
    _, index_planes = _planes(_zigzag(steps), 8)
    float_planes = bits.astype(">u8").view(np.uint8).reshape(4, n, 8).transpose(0, 2, 1)
    return b"".join(
        [
            _BEATS_HEAD.pack(batch.stream_t0_ns, batch.fs, n, first),
            label_table,
            codes,
            flags.tobytes(),
            index_planes,
            float_planes.tobytes(),
        ]
    )


def decode_beats(data: bytes) -> BeatBatch:
    t0, fs, n, first = _BEATS_HEAD.unpack_from(data)
    pos = _BEATS_HEAD.size
    labels = []
    for _ in range(data[pos]):
        length = data[pos + 1]
        labels.append(data[pos + 2 : pos + 2 + length].decode())
        pos += 1 + length
    pos += 1
    codes, flags = data[pos : pos + n], data[pos + n : pos + 2 * n]
    pos += 2 * n
    deltas = _unzigzag(_unplanes(data[pos : pos + 8 * n], 8, n))
    index = first + np.cumsum(deltas)
    pos += 8 * n
    if len(data) != pos + 32 * n:
        raise ValueError("beat batch has the wrong size")
    planes = np.frombuffer(data, dtype=np.uint8, offset=pos).reshape(4, 8, n).transpose(0, 2, 1)
    bits = planes.copy().view(">u8").reshape(4, n).astype(np.uint64)
    values = (bits ^ _predictions(index, fs).view(np.uint64)).view(np.float64)
    beats = tuple(
        ClassifiedBeat(
            index=int(index[i]),
            time_s=float(values[0, i]),
            label=labels[codes[i]],
            confidence=float(values[1, i]),
            rr_before_s=float(values[2, i]) if flags[i] & 2 else None,
            rr_after_s=float(values[3, i]) if flags[i] & 4 else None,
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
FRAME_HEADER_SIZE = _FRAME.size
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
    if compress and rtype != RecordType.ECG:  # ECG bodies are entropy-coded already
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
    body = padded[_FRAME.size : end]
    if codec == CODEC_ZLIB:
        body = zlib.decompress(body)
    elif codec != CODEC_NONE:
        raise ValueError(f"unknown record codec {codec}")
    return RecordType(rtype), body


def decode_payload(rtype: RecordType, body: bytes, version: int = FORMAT_VERSION) -> Payload | None:
    """The payload of a record of format `version`; None for the close record."""
    if rtype == RecordType.ECG:
        return decode_ecg(body, version)
    if rtype == RecordType.BEATS:
        return decode_beats(body)
    if rtype == RecordType.CLOSE:
        return None
    return decode_event(EVENT_CATEGORIES[rtype], body)


def close_body(count: int) -> bytes:
    """The close record says how many records precede it in its segment."""
    return struct.pack(">I", count)
