"""Heart Rate Measurement and Battery Level codecs.

Vectors: the Bluetooth SIG heart_rate_measurement definition, and real Polar H7
bytes (cal-id/Polar-H7-Pi README): `06 3c` = contact, 60 bpm; `16 3c 11 04` =
contact, 60 bpm, one RR of 1041/1024 s.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.ble import battery, hrs
from monitor.ble.errors import BleDecodeError


def test_h7_vectors() -> None:
    assert hrs.decode_heart_rate(bytes.fromhex("063c")) == hrs.HeartRateMeasurement(
        60, hrs.Contact.CONTACT)
    m = hrs.decode_heart_rate(bytes.fromhex("163c1104"))
    assert (m.bpm, m.contact, m.rr_1024) == (60, hrs.Contact.CONTACT, (1041,))
    assert m.rr_s[0] * 1000 == pytest.approx(1016.6, abs=0.05)


def test_uint16_rate_energy_and_several_rr() -> None:
    data = bytes.fromhex("19 2c01 3412 0004 0002")
    m = hrs.decode_heart_rate(data)
    assert (m.bpm, m.energy_kj, m.rr_1024, m.contact) == (
        300, 0x1234, (1024, 512), hrs.Contact.NOT_SUPPORTED)
    assert hrs.encode_heart_rate(m) == data


def test_contact_supported_but_absent() -> None:
    assert hrs.decode_heart_rate(bytes.fromhex("0448")).contact is hrs.Contact.NO_CONTACT


@pytest.mark.parametrize("data", ["", "01 3c", "08 3c 01", "10 3c 11", "10 3c 00 00"])
def test_malformed_heart_rate(data: str) -> None:
    with pytest.raises(BleDecodeError):
        hrs.decode_heart_rate(bytes.fromhex(data))


def test_battery() -> None:
    assert battery.decode_battery(b"\x57") == 87
    assert battery.encode_battery(100) == b"\x64"
    for bad in (b"", b"\x65", b"\x10\x00"):
        with pytest.raises(BleDecodeError):
            battery.decode_battery(bad)


hr_st = st.builds(
    hrs.HeartRateMeasurement,
    st.integers(0, 0xFFFF),
    st.sampled_from(list(hrs.Contact)),
    st.none() | st.integers(0, 0xFFFF),
    st.lists(st.integers(1, 0xFFFF), max_size=9).map(tuple),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(hr_st)
def test_heart_rate_round_trip(m: hrs.HeartRateMeasurement) -> None:
    decoded = hrs.decode_heart_rate(hrs.encode_heart_rate(m))
    assert decoded.bpm == m.bpm and decoded.rr_1024 == m.rr_1024
    assert decoded.energy_kj == m.energy_kj and decoded.contact == m.contact


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=30))
def test_fuzz_heart_rate_and_battery(data: bytes) -> None:
    for decode in (hrs.decode_heart_rate, battery.decode_battery):
        with contextlib.suppress(BleDecodeError):
            decode(data)
