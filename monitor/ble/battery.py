"""Battery Service (0x180F) level codec: one uint8 percentage (0x2A19)."""

from __future__ import annotations

from monitor.ble.errors import BleDecodeError

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


def decode_battery(data: bytes | bytearray) -> int:
    """Battery percentage; anything but one byte in 0..100 raises BleDecodeError."""
    if len(data) != 1:
        raise BleDecodeError(f"battery level must be 1 byte, got {len(data)}")
    if data[0] > 100:
        raise BleDecodeError(f"battery level {data[0]} % is over 100")
    return int(data[0])


def encode_battery(percent: int) -> bytes:
    """The battery level characteristic value."""
    if not 0 <= percent <= 100:
        raise BleDecodeError(f"battery level {percent} % outside 0..100")
    return bytes((percent,))
