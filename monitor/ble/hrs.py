"""Heart Rate Service (0x180D) measurement codec: pure functions, no I/O.

Layout from the Bluetooth SIG characteristic definition
`org.bluetooth.characteristic.heart_rate_measurement` (0x2A37): a flags byte,
uint8 or uint16 heart rate, optional uint16 energy expended (kJ), then RR
intervals in 1/1024 s, oldest first. Straps without raw ECG (and the H10
alongside it) give RR intervals that rhythm analysis can use on their own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from monitor.ble.errors import BleDecodeError

HR_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HR_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
BODY_SENSOR_LOCATION_UUID = "00002a38-0000-1000-8000-00805f9b34fb"

FLAG_HR_UINT16 = 0x01
FLAG_CONTACT_DETECTED = 0x02
FLAG_CONTACT_SUPPORTED = 0x04
FLAG_ENERGY = 0x08
FLAG_RR = 0x10
RR_UNITS_PER_S = 1024


class Contact(enum.Enum):
    """Sensor-contact bits 1-2 of the flags."""

    NOT_SUPPORTED = "not supported"
    NO_CONTACT = "no contact"
    CONTACT = "contact"


@dataclass(frozen=True)
class HeartRateMeasurement:
    """One 0x2A37 notification. rr_1024 keeps the raw 1/1024 s units (no rounding)."""

    bpm: int
    contact: Contact = Contact.NOT_SUPPORTED
    energy_kj: int | None = None
    rr_1024: tuple[int, ...] = ()
    hr_uint16: bool = False

    @property
    def rr_s(self) -> tuple[float, ...]:
        """RR intervals in seconds, oldest first."""
        return tuple(v / RR_UNITS_PER_S for v in self.rr_1024)


def decode_heart_rate(data: bytes | bytearray) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement; malformed bytes raise BleDecodeError."""
    if not data:
        raise BleDecodeError("empty heart-rate measurement")
    flags = data[0]  # bits 5-7 are reserved: ignored, as the SIG definition asks
    offset = 1
    wide = bool(flags & FLAG_HR_UINT16)
    size = 2 if wide else 1
    if len(data) < offset + size:
        raise BleDecodeError("heart-rate measurement truncated before the heart rate")
    bpm = int.from_bytes(data[offset : offset + size], "little")
    offset += size
    if flags & FLAG_CONTACT_SUPPORTED:
        contact = Contact.CONTACT if flags & FLAG_CONTACT_DETECTED else Contact.NO_CONTACT
    else:
        contact = Contact.NOT_SUPPORTED
    energy = None
    if flags & FLAG_ENERGY:
        if len(data) < offset + 2:
            raise BleDecodeError("heart-rate measurement truncated in energy expended")
        energy = int.from_bytes(data[offset : offset + 2], "little")
        offset += 2
    rr: tuple[int, ...] = ()
    if flags & FLAG_RR:
        rest = len(data) - offset
        if rest % 2:
            raise BleDecodeError("heart-rate RR intervals are not whole uint16 values")
        rr = tuple(
            int.from_bytes(data[i : i + 2], "little") for i in range(offset, len(data), 2)
        )
        if any(v == 0 for v in rr):
            raise BleDecodeError("heart-rate RR interval of zero")
    return HeartRateMeasurement(bpm, contact, energy, rr, wide)


def encode_heart_rate(m: HeartRateMeasurement) -> bytes:
    """Bytes of a Heart Rate Measurement (used by the virtual strap and tests)."""
    wide = m.hr_uint16 or m.bpm > 0xFF
    if not 0 <= m.bpm <= 0xFFFF:
        raise BleDecodeError("heart rate outside uint16")
    flags = FLAG_HR_UINT16 if wide else 0
    if m.contact is Contact.CONTACT:
        flags |= FLAG_CONTACT_SUPPORTED | FLAG_CONTACT_DETECTED
    elif m.contact is Contact.NO_CONTACT:
        flags |= FLAG_CONTACT_SUPPORTED
    if m.energy_kj is not None:
        flags |= FLAG_ENERGY
    if m.rr_1024:
        flags |= FLAG_RR
    out = bytearray((flags,))
    out += m.bpm.to_bytes(2 if wide else 1, "little")
    if m.energy_kj is not None:
        out += m.energy_kj.to_bytes(2, "little")
    for value in m.rr_1024:
        if not 0 < value <= 0xFFFF:
            raise BleDecodeError("RR interval outside 1..65535 / 1024 s")
        out += value.to_bytes(2, "little")
    return bytes(out)
