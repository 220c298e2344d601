"""Polar Measurement Data (PMD) codec: pure functions, no I/O.

The byte layouts follow Polar's public BLE SDK (polarofficial/polar-ble-sdk,
`.../gatt/client/pmd/` Kotlin sources) and its measurement-data specification; see
docs/PROTOCOL.md for every field with its source. Encoders exist for the virtual
strap and for round-trip tests; decoders raise only `BleDecodeError`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

import numpy as np

from monitor.ble.errors import BleDecodeError

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CP_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

POLAR_EPOCH_UNIX_NS = 946_684_800_000_000_000
"""2000-01-01T00:00:00Z in Unix ns: PMD timestamps count from here."""
H10_DEFAULT_SENSOR_NS = 599_616_000_000_000_000
"""2019-01-01T00:00:00Z on the PMD clock: where an H10 whose time was never set starts."""

H10_ECG_FS = 130
H10_ECG_RESOLUTION = 14
H10_DEFAULT_MTU = 232
H10_MIN_MTU = 70
ECG_FRAME_HEADER = 10
ECG_SAMPLE_BYTES = 3
ECG_MIN_UV = -(1 << 23)
ECG_MAX_UV = (1 << 23) - 1

CP_RESPONSE_CODE = 0xF0
CP_FEATURE_READ_CODE = 0x0F


class Opcode(enum.IntEnum):
    """Control-point request op codes (PmdControlPointCommand.kt)."""

    GET_MEASUREMENT_SETTINGS = 0x01
    REQUEST_MEASUREMENT_START = 0x02
    STOP_MEASUREMENT = 0x03
    GET_SDK_MODE_SETTINGS = 0x04
    GET_MEASUREMENT_STATUS = 0x05
    GET_SDK_MODE_STATUS = 0x06
    GET_OFFLINE_RECORDING_TRIGGER_STATUS = 0x07
    SET_OFFLINE_RECORDING_TRIGGER_MODE = 0x08
    SET_OFFLINE_RECORDING_TRIGGER_SETTINGS = 0x09


class MeasurementType(enum.IntEnum):
    """PMD measurement types (PmdMeasurementType.kt); the wire byte is masked with 0x3F."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SKIN_TEMP = 7
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12
    OFFLINE_RECORDING = 13
    OFFLINE_HR = 14
    OFFLINE_TEMP = 15


class Status(enum.IntEnum):
    """Control-point response status (PmdControlPointResponse.kt)."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


STATUS_TEXT = {
    Status.SUCCESS: "success",
    Status.INVALID_OP_CODE: "invalid op code",
    Status.INVALID_MEASUREMENT_TYPE: "invalid measurement type",
    Status.NOT_SUPPORTED: "not supported",
    Status.INVALID_LENGTH: "invalid length",
    Status.INVALID_PARAMETER: "invalid parameter",
    Status.ALREADY_IN_STATE: "already in state",
    Status.INVALID_RESOLUTION: "invalid resolution",
    Status.INVALID_SAMPLE_RATE: "invalid sample rate",
    Status.INVALID_RANGE: "invalid range",
    Status.INVALID_MTU: "invalid MTU",
    Status.INVALID_NUMBER_OF_CHANNELS: "invalid number of channels",
    Status.INVALID_STATE: "invalid state",
    Status.DEVICE_IN_CHARGER: "device in charger",
    Status.DISK_FULL: "disk full",
}


def status_text(status: int) -> str:
    """Readable name of a control-point status, also for codes Polar has not defined."""
    try:
        return STATUS_TEXT[Status(status)]
    except ValueError:
        return f"unknown status 0x{status:02x}"


class SettingType(enum.IntEnum):
    """Measurement setting TLV types (PmdSetting.kt)."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


SETTING_FIELD_SIZE = {
    SettingType.SAMPLE_RATE: 2,
    SettingType.RESOLUTION: 2,
    SettingType.RANGE: 2,
    SettingType.RANGE_MILLIUNIT: 4,
    SettingType.CHANNELS: 1,
    SettingType.FACTOR: 4,
    SettingType.SECURITY: 16,
}

Settings = dict[SettingType, tuple[int, ...]]
"""Setting type -> values. A start request carries one value each; a settings reply lists all."""


# --------------------------------------------------------------------- settings TLVs


def encode_settings(settings: Settings) -> bytes:
    """`[type][count][count x little-endian value]` for each setting, in the given order."""
    out = bytearray()
    for kind, values in settings.items():
        size = SETTING_FIELD_SIZE[kind]
        if not 0 < len(values) < 256:
            raise BleDecodeError(f"setting {kind.name} needs 1 to 255 values")
        out += bytes((kind, len(values)))
        for value in values:
            if not 0 <= value < (1 << (8 * size)):
                raise BleDecodeError(f"setting {kind.name} value {value} does not fit {size} bytes")
            out += value.to_bytes(size, "little")
    return bytes(out)


def decode_settings(data: bytes) -> Settings:
    """Inverse of `encode_settings`; a truncated or unknown TLV raises BleDecodeError."""
    settings: Settings = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise BleDecodeError("truncated PMD setting header")
        try:
            kind = SettingType(data[offset])
        except ValueError:
            raise BleDecodeError(f"unknown PMD setting type {data[offset]}") from None
        count = data[offset + 1]
        size = SETTING_FIELD_SIZE[kind]
        offset += 2
        end = offset + count * size
        if end > len(data):
            raise BleDecodeError(f"truncated PMD setting {kind.name}")
        settings[kind] = tuple(
            int.from_bytes(data[i : i + size], "little") for i in range(offset, end, size)
        )
        offset = end
    return settings


H10_ECG_SETTINGS: Settings = {
    SettingType.SAMPLE_RATE: (H10_ECG_FS,),
    SettingType.RESOLUTION: (H10_ECG_RESOLUTION,),
}


# --------------------------------------------------------------------- requests


@dataclass(frozen=True)
class CpRequest:
    """A control-point write: op code, measurement type, settings (start only)."""

    opcode: Opcode
    measurement: MeasurementType
    settings: Settings = field(default_factory=dict)
    offline: bool = False


def encode_request(request: CpRequest) -> bytes:
    """`[opcode][(offline << 7) | type][settings...]`."""
    return bytes(
        (request.opcode, (int(request.offline) << 7) | request.measurement)
    ) + encode_settings(request.settings)


def decode_request(data: bytes) -> CpRequest:
    """What the strap (virtual or real) sees written to its control point."""
    if len(data) < 2:
        raise BleDecodeError(f"PMD request too short ({len(data)} bytes)")
    try:
        opcode = Opcode(data[0])
    except ValueError:
        raise BleDecodeError(f"unknown PMD op code 0x{data[0]:02x}") from None
    try:
        measurement = MeasurementType(data[1] & 0x3F)
    except ValueError:
        raise BleDecodeError(f"unknown PMD measurement type {data[1] & 0x3F}") from None
    return CpRequest(opcode, measurement, decode_settings(bytes(data[2:])), bool(data[1] & 0x80))


def start_ecg_request() -> bytes:
    """`02 00 00 01 82 00 01 01 0E 00`: start ECG at 130 Hz, 14 bit (the H10's only setting)."""
    return encode_request(
        CpRequest(Opcode.REQUEST_MEASUREMENT_START, MeasurementType.ECG, H10_ECG_SETTINGS)
    )


def stop_request(measurement: MeasurementType = MeasurementType.ECG) -> bytes:
    """`03 <type>`."""
    return encode_request(CpRequest(Opcode.STOP_MEASUREMENT, measurement))


def get_settings_request(measurement: MeasurementType = MeasurementType.ECG) -> bytes:
    """`01 <type>`."""
    return encode_request(CpRequest(Opcode.GET_MEASUREMENT_SETTINGS, measurement))


# --------------------------------------------------------------------- CP indications


@dataclass(frozen=True)
class CpResponse:
    """`F0 <opcode> <type> <status> [more] [params...]`; more/params only when status == 0."""

    opcode: int
    measurement: int
    status: int
    more: bool = False
    parameters: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCESS

    @property
    def status_text(self) -> str:
        return status_text(self.status)

    def settings(self) -> Settings:
        """The parameters of a successful GET_MEASUREMENT_SETTINGS reply as settings."""
        return decode_settings(self.parameters)


@dataclass(frozen=True)
class MeasurementStopped:
    """Server-initiated `01 <type>...`: the strap stopped these streams on its own."""

    measurements: tuple[int, ...]


@dataclass(frozen=True)
class FeatureRead:
    """`0F <bitmap>...`: what a CP read returns (BlueZ may also echo it as an indication)."""

    features: frozenset[MeasurementType]


CpIndication = CpResponse | MeasurementStopped | FeatureRead


def encode_response(response: CpResponse) -> bytes:
    """Bytes of a control-point response indication (5 bytes plus parameters)."""
    head = bytes(
        (
            CP_RESPONSE_CODE,
            response.opcode & 0xFF,
            response.measurement & 0xFF,
            response.status & 0xFF,
        )
    )
    if response.status != Status.SUCCESS:
        return head + b"\x00"  # a real H10 sends the (zero) 'more' byte on errors too
    return head + bytes((int(response.more),)) + response.parameters


def decode_cp(data: bytes) -> CpIndication:
    """Decode anything that arrives on the control point characteristic."""
    if not data:
        raise BleDecodeError("empty PMD control-point packet")
    code = data[0]
    if code == CP_RESPONSE_CODE:
        if len(data) < 4:
            raise BleDecodeError(f"PMD control-point response too short ({len(data)} bytes)")
        status = data[3]
        if status != Status.SUCCESS:
            return CpResponse(data[1], data[2], status)
        more = len(data) > 4 and data[4] != 0
        return CpResponse(data[1], data[2], status, more, bytes(data[5:]))
    if code == CP_FEATURE_READ_CODE:
        return decode_features(data)
    if code == 0x01:
        if len(data) < 2:
            raise BleDecodeError("PMD measurement-stopped indication without a type")
        return MeasurementStopped(tuple(b & 0x3F for b in data[1:]))
    raise BleDecodeError(f"unknown PMD control-point packet 0x{code:02x}")


FEATURE_BITS: tuple[tuple[int, int, MeasurementType], ...] = (
    (1, 0, MeasurementType.ECG),
    (1, 1, MeasurementType.PPG),
    (1, 2, MeasurementType.ACC),
    (1, 3, MeasurementType.PPI),
    (1, 5, MeasurementType.GYRO),
    (1, 6, MeasurementType.MAG),
    (1, 7, MeasurementType.SKIN_TEMP),
    (2, 1, MeasurementType.SDK_MODE),
    (2, 2, MeasurementType.LOCATION),
    (2, 3, MeasurementType.PRESSURE),
    (2, 4, MeasurementType.TEMPERATURE),
    (2, 5, MeasurementType.OFFLINE_RECORDING),
    (2, 6, MeasurementType.OFFLINE_HR),
)


def encode_features(features: frozenset[MeasurementType] | set[MeasurementType]) -> bytes:
    """The 17-byte CP read value; an H10 gives `0F 05 00...` (ECG + ACC)."""
    out = bytearray(17)
    out[0] = CP_FEATURE_READ_CODE
    for index, bit, kind in FEATURE_BITS:
        if kind in features:
            out[index] |= 1 << bit
    return bytes(out)


def decode_features(data: bytes) -> FeatureRead:
    """Decode the feature bitmap of a CP read."""
    if len(data) < 2 or data[0] != CP_FEATURE_READ_CODE:
        raise BleDecodeError("not a PMD feature read")
    found = {
        kind for index, bit, kind in FEATURE_BITS if index < len(data) and data[index] & (1 << bit)
    }
    return FeatureRead(frozenset(found))


# --------------------------------------------------------------------- data frames


@dataclass(frozen=True)
class EcgDataFrame:
    """One decoded PMD ECG notification.

    sensor_ns: strap clock, ns since 2000-01-01, of the LAST sample in the frame.
    samples_uv: int32 microvolts.
    """

    sensor_ns: int
    samples_uv: np.ndarray

    def __len__(self) -> int:
        return len(self.samples_uv)


_HEADER = struct.Struct("<BQB")
_INT32LE = np.dtype("<i4")
_LE_NATIVE = _INT32LE.isnative
"""On little-endian hosts the shifted words are native int32 already (no conversion)."""
_BYTE = np.int32(8)
_ECG = int(MeasurementType.ECG)
"""Plain ints: comparing with an IntEnum member or a Python int shift costs more per
notification than the rest of the header checks."""


def samples_per_frame(mtu: int) -> int:
    """How many ECG samples an H10 packs into one notification at this ATT MTU."""
    return max(0, (mtu - 3 - ECG_FRAME_HEADER) // ECG_SAMPLE_BYTES)


def encode_ecg_frame(sensor_ns: int, samples_uv: np.ndarray | list[int]) -> bytes:
    """`00 | u64le timestamp | 00 | n x int24le uV`, the H10's ECG frame type 0."""
    values = np.asarray(samples_uv, dtype=np.int64)
    if values.size == 0:
        raise BleDecodeError("an ECG frame needs at least one sample")
    if values.min() < ECG_MIN_UV or values.max() > ECG_MAX_UV:
        raise BleDecodeError("ECG sample outside the int24 range")
    if not 0 <= sensor_ns < (1 << 64):
        raise BleDecodeError("PMD timestamp outside u64")
    raw = values.astype("<i4").tobytes()
    body = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return _HEADER.pack(MeasurementType.ECG, sensor_ns, 0) + body


def decode_ecg_frame(data: bytes | bytearray) -> EcgDataFrame:
    """Decode an ECG data notification (frame type 0, the only one the H10 sends)."""
    if len(data) < ECG_FRAME_HEADER + ECG_SAMPLE_BYTES:
        raise BleDecodeError(f"PMD data frame too short ({len(data)} bytes)")
    kind, sensor_ns, frame_type = _HEADER.unpack_from(data, 0)
    if kind & 0x3F != _ECG:
        raise BleDecodeError(f"PMD data frame of measurement type {kind & 0x3F}, not ECG")
    if frame_type != 0:
        compressed = " delta-compressed" if frame_type & 0x80 else ""
        raise BleDecodeError(f"unsupported{compressed} ECG frame type {frame_type & 0x7F}")
    body = len(data) - ECG_FRAME_HEADER
    if body % ECG_SAMPLE_BYTES:
        raise BleDecodeError(f"ECG payload of {body} bytes is not whole 3-byte samples")
    if sensor_ns == 0:
        raise BleDecodeError("ECG frame with a zero timestamp")
    # Sample k is read as the int32le word at byte ECG_FRAME_HEADER - 1 + 3k (a strided,
    # read-only view of the payload, no copy): its top three bytes are the int24le
    # sample and its low byte is the byte before it, which the arithmetic shift right by
    # 8 drops while sign-extending. The last word ends exactly at the end of the data.
    # One numpy operation, and its result is a new array: this runs 130 times a second
    # per strap, so it is kept to a few microseconds per notification.
    n = body // ECG_SAMPLE_BYTES
    words = np.ndarray((n,), _INT32LE, buffer=data, offset=ECG_FRAME_HEADER - 1, strides=(3,))
    values = words >> _BYTE
    if not _LE_NATIVE:
        values = values.astype(np.int32)
    return EcgDataFrame(sensor_ns, values)


def sensor_to_unix_ns(sensor_ns: int) -> int:
    """A PMD timestamp as Unix ns (only meaningful if the strap's clock was set)."""
    return sensor_ns + POLAR_EPOCH_UNIX_NS
