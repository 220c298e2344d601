"""Errors of the strap layer.

`BleDecodeError` is the one error every codec raises for malformed bytes: the
session catches exactly this type, counts it and skips the notification, so a
garbled packet can never crash the daemon. `StrapError` covers user-facing
connection problems (no Bluetooth adapter, strap not found), which the CLI prints
as one line.
"""

from __future__ import annotations

from monitor.errors import EcgmonError


class BleDecodeError(EcgmonError):
    """Bytes from (or for) a strap that do not follow the documented format."""


class StrapError(EcgmonError):
    """The strap or the Bluetooth stack cannot be used (no adapter, not found, refused)."""


class ControlPointError(StrapError):
    """The strap answered a PMD control-point request with an error status."""

    def __init__(self, opcode: int, status: int, status_name: str) -> None:
        super().__init__(f"PMD control point refused op 0x{opcode:02x}: {status_name}")
        self.opcode = opcode
        self.status = status


def bluetooth_unavailable(exc: BaseException) -> str | None:
    """A one-line explanation if `exc` means the host has no usable Bluetooth stack.

    bleak's BlueZ backend fails with FileNotFoundError/ConnectionRefusedError when
    the system D-Bus socket is missing, a D-Bus error naming org.bluez when
    bluetoothd is not running, and BleakBluetoothNotAvailableError when there is
    no adapter or it is powered off. Anything else returns None (a real error).
    """
    try:
        from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError
    except ImportError:  # pragma: no cover - bleak is a runtime dependency
        return None
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return f"Bluetooth is not available ({exc.reason.name.lower().replace('_', ' ')})"
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError, PermissionError)):
        return (
            "Bluetooth is not available: cannot reach BlueZ over the system D-Bus "
            f"({exc.strerror or type(exc).__name__}); is bluetoothd running and an adapter present?"
        )
    if isinstance(exc, BleakDBusError) and (
        "org.bluez" in str(exc) or "ServiceUnknown" in str(exc) or "NoReply" in str(exc)
    ):
        return f"Bluetooth is not available: BlueZ did not answer ({exc.dbus_error})"
    text = str(exc).lower()
    if "no bluetooth adapters" in text or ("bluetooth adapter" in text and "not found" in text):
        return f"Bluetooth is not available: {exc}"
    return None
