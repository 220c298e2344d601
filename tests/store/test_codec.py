"""The v2 ECG sample codec (monitor/store/ecgcodec.py): exact round trips, its coding
paths, and refusal of malformed input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monitor.store import ecgcodec
from monitor.store.ecgcodec import MODE_PLANES, MODE_RICE, decode_samples, encode_samples
from monitor.store.records import EcgBlock, decode_ecg, encode_ecg

INT32 = st.integers(-(2**31), 2**31 - 1)
INT16 = st.integers(-(2**15), 2**15 - 1)


def _round_trip(x: np.ndarray) -> bytes:
    data = encode_samples(x)
    back = decode_samples(data, len(x))
    assert back.dtype == np.int64
    assert np.array_equal(back, x.astype(np.int64))
    return data


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.int32, st.integers(0, 300), elements=INT32))
def test_any_int32_block_round_trips(x: np.ndarray) -> None:
    _round_trip(x)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 300), elements=INT16))
def test_any_int16_block_round_trips(x: np.ndarray) -> None:
    _round_trip(x)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2000),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1, 2, 5, 7, 255, 256, 1000]),
    st.integers(0, 2**32 - 1),
)
def test_ecg_like_blocks_on_any_grid_round_trip(n: int, scale: int, step: int, seed: int) -> None:
    """Random walks of any step size and scale, clipped to int32 (so runs at the
    extremes occur too)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.laplace(0, 1 + scale % 5000, n)) // step * step
    _round_trip(np.clip(walk, -(2**31), 2**31 - 1).astype(np.int32))


@pytest.mark.parametrize(
    "values",
    [
        [],
        [0],
        [-(2**31)],
        [2**31 - 1],
        [2**31 - 1, -(2**31)] * 9,
        [-(2**31)] * 17,
        [0] * 8,
        [5] * 1300,
        list(range(-4, 5)),
    ],
)
def test_edge_blocks(values: list[int]) -> None:
    _round_trip(np.array(values, dtype=np.int32))


def test_empty_block_is_empty_bytes() -> None:
    assert encode_samples(np.zeros(0, np.int16)) == b""
    with pytest.raises(ValueError, match="trailing"):
        decode_samples(b"\x01", 0)


def test_samples_on_a_grid_are_coded_in_grid_steps() -> None:
    rng = np.random.default_rng(3)
    fine = np.cumsum(rng.integers(-60, 61, 1300))
    data1, data5 = _round_trip(fine), _round_trip(fine * 5)
    assert data5[:2] == bytes((MODE_RICE, 5))
    assert len(data5) == len(data1)  # the step costs nothing


def test_wild_jumps_fall_back_to_byte_planes_and_stay_bounded() -> None:
    x = np.array([2**31 - 1, -(2**31)] * 650, dtype=np.int32)
    data = _round_trip(x)
    assert data[0] == MODE_PLANES
    assert len(data) <= 2 + 8 * len(x)


def test_ecg_like_signal_costs_about_its_entropy() -> None:
    """A Laplacian random walk of scale 20 uV has differences whose entropy is about
    log2(2e * 20) = 6.8 bits; Rice coding per 8 samples stays within half a bit."""
    rng = np.random.default_rng(5)
    d = np.rint(rng.laplace(0, 20, 130_000)).astype(np.int64)
    data = _round_trip(np.cumsum(d).astype(np.int32))
    _, counts = np.unique(d, return_counts=True)
    p = counts / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    bits = 8 * len(data) / len(d)
    assert entropy <= bits <= entropy + 0.5


def _rice(x: np.ndarray) -> bytes:
    data = encode_samples(x)
    assert data[0] == MODE_RICE
    return data


BLOCK = np.cumsum(np.random.default_rng(1).integers(-80, 81, 1300)).astype(np.int16)


def test_truncated_or_extended_streams_are_refused() -> None:
    data = _rice(BLOCK)
    for bad in (data[:-1], data + b"\x00", data[:40], data[:2], data[:1]):
        with pytest.raises(ValueError):
            decode_samples(bad, len(BLOCK))


def test_unknown_mode_zero_step_and_bad_parameters_are_refused() -> None:
    data = _rice(BLOCK)
    with pytest.raises(ValueError, match="unknown coding mode"):
        decode_samples(b"\x07" + data[1:], len(BLOCK))
    with pytest.raises(ValueError, match="zero sample step"):
        decode_samples(data[:1] + b"\x00" + data[2:], len(BLOCK))
    # first partition parameter 9 (> K_MAX): zigzag 18 -> 18 zero bits then a one
    bits = "0" * 18 + "1"
    head = int(bits + "0" * (-len(bits) % 8), 2).to_bytes((len(bits) + 7) // 8, "big")
    with pytest.raises(ValueError, match="out of range"):
        decode_samples(bytes((MODE_RICE, 1)) + head + b"\xff\xff" + bytes(9), 8)


def test_ecg_block_records_keep_dtype_and_reject_overflow() -> None:
    block = EcgBlock(5, 130.0, BLOCK)
    assert decode_ecg(encode_ecg(block)) == block
    wide = EcgBlock(5, 130.0, np.array([40_000, -40_000], dtype=np.int32))
    body = bytearray(encode_ecg(wide))
    body[16] = 2  # claim int16 samples
    with pytest.raises(ValueError, match="do not fit"):
        decode_ecg(bytes(body))


def test_partition_parameters_follow_the_signal_scale() -> None:
    quiet = np.zeros(64, dtype=np.int64)
    loud = np.full(64, 1000, dtype=np.int64)
    k = ecgcodec._rice_parameters(ecgcodec.zigzag(np.concatenate([quiet, loud])))
    assert k[:8].tolist() == [0] * 8 and k[8:].tolist() == [8] * 8


@pytest.mark.parametrize("n", [70_001, (1 << 20) + 9])
def test_long_blocks_round_trip(n: int) -> None:
    """Beyond the codec's cached tables (65,536 unary values, 2^20 samples)."""
    rng = np.random.default_rng(n)
    _round_trip(np.cumsum(rng.integers(-300, 301, n)).astype(np.int32))


def test_a_flat_start_does_not_hide_the_grid() -> None:
    x = np.concatenate([np.zeros(40, np.int32), 5 * np.arange(1, 300, dtype=np.int32) % 700])
    assert _round_trip(x)[:2] == bytes((MODE_RICE, 5))


def test_non_canonical_padding_is_refused() -> None:
    """One byte per input: a stray one bit in the unary padding, or a remainder in a slot
    past the last sample, would make two encodings of one block."""
    x = np.array([3, 4], dtype=np.int32)  # e = 3, 1; u = 6, 2: sum 8 -> k_0 = 0
    data = encode_samples(x)
    assert data[:2] == bytes((MODE_RICE, 1))
    # unary: zigzag(k_0 - 0) = 0 -> "1"; q = 6, 2 -> "0000001" "001"; 5 padding bits
    assert data[2:] == bytes([0b10000001, 0b00100000])
    with pytest.raises(ValueError, match="padding"):
        decode_samples(data[:3] + bytes([0b00100001]), 2)
    y = np.array([16, 17], dtype=np.int32)  # e = 16, 1; u = 32, 2: sum 34 -> k_0 = 2
    data = encode_samples(y)
    assert decode_samples(data, 2).tolist() == [16, 17]
    assert data[-2:] == bytes([0x20, 0x00])  # remainders 0, 2 in the top 4 of 16 bits
    with pytest.raises(ValueError, match="past its last sample"):
        decode_samples(data[:-1] + bytes([data[-1] | 1]), 2)
