"""PMD codec: byte vectors from Polar's documentation and SDK, round trips, fuzzing.

Vectors and where they come from (see docs/PROTOCOL.md):
* old PMD spec p.9-11 (polar-ble-sdk technical_documentation, @39c809ab): the
  ECG/ACC settings and start exchanges;
* phdiethelm/h10_ecg exploration/gatttool.md: a real H10's CP read, start
  reply, start-without-settings error and ECG frame header and samples;
* polar-ble-sdk EcgDataTest.kt "process raw ecg data type 0".
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.ble import pmd
from monitor.ble.errors import BleDecodeError
from monitor.errors import EcgmonError

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND = settings(max_examples=300, deadline=None)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------------------ documented vectors

def test_start_ecg_request_is_the_documented_bytes() -> None:
    assert pmd.start_ecg_request() == h("02 00 00 01 82 00 01 01 0E 00")
    assert pmd.stop_request() == h("03 00")
    assert pmd.get_settings_request() == h("01 00")


def test_start_acc_request_matches_the_spec_example() -> None:
    request = pmd.CpRequest(pmd.Opcode.REQUEST_MEASUREMENT_START, pmd.MeasurementType.ACC, {
        pmd.SettingType.RANGE: (8,), pmd.SettingType.SAMPLE_RATE: (200,),
        pmd.SettingType.RESOLUTION: (16,)})
    assert pmd.encode_request(request) == h("02 02 02 01 08 00 00 01 C8 00 01 01 10 00")
    assert pmd.decode_request(pmd.encode_request(request)) == request


def test_ecg_settings_reply() -> None:
    reply = pmd.decode_cp(h("F0 01 00 00 00 00 01 82 00 01 01 0E 00"))
    assert isinstance(reply, pmd.CpResponse)
    assert (reply.opcode, reply.measurement, reply.ok, reply.more) == (1, 0, True, False)
    assert reply.settings() == {pmd.SettingType.SAMPLE_RATE: (130,),
                                pmd.SettingType.RESOLUTION: (14,)}


def test_acc_settings_reply_lists_every_choice() -> None:
    reply = pmd.decode_cp(h(
        "F0 01 02 00 00 00 04 19 00 32 00 64 00 C8 00 01 01 10 00 02 03 02 00 04 00 08 00"))
    assert isinstance(reply, pmd.CpResponse)
    assert reply.settings() == {pmd.SettingType.SAMPLE_RATE: (25, 50, 100, 200),
                                pmd.SettingType.RESOLUTION: (16,),
                                pmd.SettingType.RANGE: (2, 4, 8)}


def test_start_replies_from_a_real_h10() -> None:
    ok = pmd.decode_cp(h("F0 02 00 00 00 00"))
    assert isinstance(ok, pmd.CpResponse) and ok.ok and ok.status_text == "success"
    refused = pmd.decode_cp(h("F0 02 00 05 00"))
    assert isinstance(refused, pmd.CpResponse)
    assert refused.status == pmd.Status.INVALID_PARAMETER
    assert refused.status_text == "invalid parameter"
    assert refused.parameters == b"" and not refused.more  # params only on success


@pytest.mark.parametrize(("status", "text"), [
    (6, "already in state"), (8, "invalid sample rate"), (7, "invalid resolution"),
    (10, "invalid MTU"), (13, "device in charger"), (0x42, "unknown status 0x42")])
def test_error_statuses_read_well(status: int, text: str) -> None:
    reply = pmd.decode_cp(bytes((0xF0, 2, 0, status)))
    assert isinstance(reply, pmd.CpResponse) and reply.status_text == text


def test_feature_read_of_an_h10_is_ecg_and_acc() -> None:
    read = pmd.decode_cp(h("0F 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"))
    assert read == pmd.FeatureRead(frozenset({pmd.MeasurementType.ECG, pmd.MeasurementType.ACC}))
    assert pmd.encode_features(read.features) == h("0F 05" + " 00" * 15)


def test_measurement_stopped_indication() -> None:
    assert pmd.decode_cp(h("01 00")) == pmd.MeasurementStopped((0,))


def test_sdk_type0_vector() -> None:
    frame = pmd.decode_ecg_frame(h("00 00 94 35 77 00 00 00 00 00 02 80 FF 02 80 00"))
    assert frame.sensor_ns == 2_000_000_000
    assert frame.samples_uv.tolist() == [-32766, 32770]


def test_real_h10_frame_header_and_samples() -> None:
    data = h("00 aa 9a 93 51 31 49 52 08 00 75 00 00 73 00 00 fc ff ff")
    frame = pmd.decode_ecg_frame(data)
    assert frame.sensor_ns == 599_622_176_564_550_314  # 2019-01-01 01:42:56.56 on the strap
    assert frame.samples_uv.tolist() == [117, 115, -4]
    assert pmd.encode_ecg_frame(frame.sensor_ns, frame.samples_uv) == data


def test_frame_size_at_h10_mtus() -> None:
    assert pmd.samples_per_frame(232) == 73
    assert pmd.samples_per_frame(70) == 19
    assert len(pmd.encode_ecg_frame(pmd.H10_DEFAULT_SENSOR_NS, np.zeros(73))) == 229


def test_time_epoch() -> None:
    assert pmd.sensor_to_unix_ns(pmd.H10_DEFAULT_SENSOR_NS) == 1_546_300_800_000_000_000


@pytest.mark.parametrize(("data", "message"), [
    (h("00 00 94 35 77 00 00 00 00 00 02 80 FF 02"), "not whole 3-byte samples"),
    (h("00 00 94 35 77 00 00 00 00"), "too short"),
    (h("02 00 94 35 77 00 00 00 00 01 00 00 00 00 00 00"), "not ECG"),
    (h("00 00 94 35 77 00 00 00 00 80 00 00 00"), "delta-compressed"),
    (h("00 00 94 35 77 00 00 00 00 01 00 00 00"), "frame type 1"),
    (h("00 00 00 00 00 00 00 00 00 00 00 00 00"), "zero timestamp"),
])
def test_malformed_frames_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(BleDecodeError, match=message):
        pmd.decode_ecg_frame(data)


def test_decode_error_is_an_ecgmon_error() -> None:
    assert issubclass(BleDecodeError, EcgmonError)


# ------------------------------------------------------------------ round trips

samples_st = st.lists(st.integers(pmd.ECG_MIN_UV, pmd.ECG_MAX_UV), min_size=1, max_size=80)


@ROUND
@given(st.integers(1, (1 << 64) - 1), samples_st)
def test_ecg_frame_round_trip(ts: int, samples: list[int]) -> None:
    frame = pmd.decode_ecg_frame(pmd.encode_ecg_frame(ts, samples))
    assert frame.sensor_ns == ts
    assert frame.samples_uv.tolist() == samples


setting_st = st.sampled_from(list(pmd.SettingType)).flatmap(
    lambda kind: st.tuples(st.just(kind), st.lists(
        st.integers(0, (1 << (8 * pmd.SETTING_FIELD_SIZE[kind])) - 1), min_size=1, max_size=4,
    ).map(tuple))
).map(lambda pair: {pair[0]: pair[1]}) | st.dictionaries(
    st.sampled_from([pmd.SettingType.SAMPLE_RATE, pmd.SettingType.RESOLUTION,
                     pmd.SettingType.RANGE]),
    st.integers(0, 0xFFFF).map(lambda v: (v,)),
    max_size=3,
)


@ROUND
@given(setting_st)
def test_settings_round_trip(settings_: pmd.Settings) -> None:
    assert pmd.decode_settings(pmd.encode_settings(settings_)) == settings_


@ROUND
@given(st.sampled_from(list(pmd.Opcode)), st.sampled_from(list(pmd.MeasurementType)),
       setting_st, st.booleans())
def test_request_round_trip(op: pmd.Opcode, kind: pmd.MeasurementType,
                            settings_: pmd.Settings, offline: bool) -> None:
    request = pmd.CpRequest(op, kind, settings_, offline)
    assert pmd.decode_request(pmd.encode_request(request)) == request


@ROUND
@given(st.integers(0, 255), st.integers(0, 63), st.integers(0, 255), st.booleans(),
       st.binary(max_size=40))
def test_response_round_trip(op: int, kind: int, status: int, more: bool, params: bytes) -> None:
    response = pmd.CpResponse(op, kind, status, more, params)
    decoded = pmd.decode_cp(pmd.encode_response(response))
    expected = response if status == 0 else pmd.CpResponse(op, kind, status)
    assert decoded == expected


@ROUND
@given(st.frozensets(st.sampled_from([kind for _, _, kind in pmd.FEATURE_BITS])))
def test_features_round_trip(features: frozenset[pmd.MeasurementType]) -> None:
    assert pmd.decode_features(pmd.encode_features(features)).features == features


# ------------------------------------------------------------------ fuzzing

@FUZZ
@given(st.binary(max_size=260))
def test_fuzz_ecg_frame_only_raises_decode_error(data: bytes) -> None:
    try:
        frame = pmd.decode_ecg_frame(data)
    except BleDecodeError:
        return
    assert len(frame) == (len(data) - 10) // 3 and frame.sensor_ns > 0


@FUZZ
@given(st.binary(min_size=10, max_size=10), st.binary(max_size=240))
def test_fuzz_ecg_frame_with_plausible_header(header: bytes, body: bytes) -> None:
    data = bytes((0,)) + header[1:9] + bytes((0,)) + body
    with contextlib.suppress(BleDecodeError):
        pmd.decode_ecg_frame(data)


@FUZZ
@given(st.binary(max_size=40))
def test_fuzz_control_point_only_raises_decode_error(data: bytes) -> None:
    with contextlib.suppress(BleDecodeError):
        pmd.decode_cp(data)


@FUZZ
@given(st.binary(max_size=40))
def test_fuzz_requests_and_settings_only_raise_decode_error(data: bytes) -> None:
    for decode in (pmd.decode_request, pmd.decode_settings):
        with contextlib.suppress(BleDecodeError):
            decode(data)
