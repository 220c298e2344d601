"""The beats encoder (vectorised) writes exactly the bytes docs/FORMAT.md specifies.

The reference here is a per-beat reading of FORMAT.md's "Beats" layout in plain Python
(the shape of the encoder before it was vectorised), so any input, including absent
RR values, NaN given as a value and float32 confidences, must produce the same bytes.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.beat import ClassifiedBeat
from monitor.store.records import BeatBatch, decode_beats, encode_beats


def _bits(value: float) -> int:
    return int(struct.unpack(">Q", struct.pack(">d", value))[0])


def _zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1


def reference_encode(batch: BeatBatch) -> bytes:
    beats, fs, n = batch.beats, batch.fs, len(batch.beats)
    labels = sorted({b.label for b in beats})
    out = bytearray(struct.pack(">qdIq", batch.stream_t0_ns, fs, n, beats[0].index if n else 0))
    out.append(len(labels))
    for lab in labels:
        out += bytes([len(lab.encode())]) + lab.encode()
    out += bytes(labels.index(b.label) for b in beats)
    out += bytes(
        int(b.noisy) | (b.rr_before_s is not None) << 1 | (b.rr_after_s is not None) << 2
        for b in beats
    )
    index = [b.index for b in beats]
    steps = [0][:n] + [index[i] - index[i - 1] for i in range(1, n)]
    z = [_zigzag(s) for s in steps]
    for plane in range(8):
        out += bytes((v >> (8 * plane)) & 0xFF for v in z)
    gaps = [(index[i] - index[i - 1]) / fs for i in range(1, n)]
    pred = [
        [i / fs for i in index],
        [0.0] * n,
        [0.0, *gaps][:n],
        [*gaps, 0.0][:n] if n else [],
    ]
    columns = [
        [float(b.time_s) for b in beats],
        [float(b.confidence) for b in beats],
        [
            pred[2][i] if b.rr_before_s is None else float(b.rr_before_s)
            for i, b in enumerate(beats)
        ],
        [pred[3][i] if b.rr_after_s is None else float(b.rr_after_s) for i, b in enumerate(beats)],
    ]
    for col, p in zip(columns, pred, strict=True):
        words = [_bits(v) ^ _bits(q) for v, q in zip(col, p, strict=True)]
        for plane in range(8):
            out += bytes((w >> (8 * (7 - plane))) & 0xFF for w in words)
    return bytes(out)


RR = st.one_of(st.none(), st.floats(0.2, 3.0), st.just(math.nan), st.floats(allow_nan=False))


@st.composite
def batches(draw: st.DrawFn) -> BeatBatch:
    fs = draw(st.sampled_from([130.0, 128.0, 250.0]))
    n = draw(st.integers(0, 40))
    index = draw(st.integers(-(10**6), 10**9))
    beats = []
    for _ in range(n):
        index += draw(st.integers(0, 400))
        exact = draw(st.booleans())
        beats.append(
            ClassifiedBeat(
                index=index,
                time_s=index / fs if exact else draw(st.floats(allow_nan=False)),
                label=draw(st.sampled_from(["N", "S", "V", "F", "Q", "é"])),
                confidence=draw(
                    st.one_of(
                        st.floats(0, 1),
                        st.floats(0, 1).map(lambda v: float(np.float32(v))),
                    )
                ),
                rr_before_s=draw(RR),
                rr_after_s=draw(RR),
                noisy=draw(st.booleans()),
            )
        )
    return BeatBatch(draw(st.integers(-(2**62), 2**62)), fs, tuple(beats))


@settings(max_examples=300, deadline=None)
@given(batches())
def test_encoder_writes_the_reference_bytes(batch: BeatBatch) -> None:
    data = encode_beats(batch)
    assert data == reference_encode(batch)
    back = decode_beats(data)
    assert len(back.beats) == len(batch.beats)
    for got, want in zip(back.beats, batch.beats, strict=True):
        assert (got.index, got.label, got.noisy) == (want.index, want.label, want.noisy)
        assert (got.rr_before_s is None) == (want.rr_before_s is None)
        assert (got.rr_after_s is None) == (want.rr_after_s is None)
