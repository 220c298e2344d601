"""The fast PMD ECG decoder gives what the byte layout says, sample for sample.

`monitor.ble.pmd.decode_ecg_frame` packs the int24 samples into int32 words with byte
slices (speed: it runs for every notification). Here each sample is decoded on its own
with `int.from_bytes(..., signed=True)`, the plainest reading of "int24 little-endian",
over arbitrary payloads, from bytes and from bytearray (what bleak hands over).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.ble import pmd


def plain_decode(data: bytes) -> list[int]:
    body = data[pmd.ECG_FRAME_HEADER :]
    return [int.from_bytes(body[i : i + 3], "little", signed=True) for i in range(0, len(body), 3)]


header = st.integers(1, (1 << 64) - 1).map(lambda ts: bytes([0]) + ts.to_bytes(8, "little") + b"\0")


@settings(max_examples=3000, deadline=None)
@given(header, st.integers(1, 80).flatmap(lambda n: st.binary(min_size=3 * n, max_size=3 * n)))
def test_decode_matches_a_plain_int24_reading(head: bytes, body: bytes) -> None:
    data = head + body
    for form in (data, bytearray(data)):
        frame = pmd.decode_ecg_frame(form)
        assert frame.samples_uv.dtype == np.int32
        assert frame.samples_uv.tolist() == plain_decode(data)
        assert frame.sensor_ns == int.from_bytes(data[1:9], "little")


def test_extremes_and_the_decoded_array_is_its_own() -> None:
    samples = [pmd.ECG_MIN_UV, -1, 0, 1, pmd.ECG_MAX_UV, -(1 << 22), 1 << 22]
    data = bytearray(pmd.encode_ecg_frame(123, samples))
    frame = pmd.decode_ecg_frame(data)
    assert frame.samples_uv.tolist() == samples
    data[pmd.ECG_FRAME_HEADER :] = bytes(len(data) - pmd.ECG_FRAME_HEADER)
    assert frame.samples_uv.tolist() == samples  # not a view of the caller's buffer
    frame.samples_uv[0] = 5  # and writable, like the arrays it replaced
