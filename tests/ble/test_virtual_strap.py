"""The virtual H10 through bleak's real BleakScanner/BleakClient: the exact bytes."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError

from monitor.ble import battery, hrs, pmd
from monitor.ble.simtime import VirtualTimeLoop, run_virtual
from monitor.ble.virtual import Faults, VirtualStrap
from tests.ble.helpers import strap


class Indications:
    def __init__(self) -> None:
        self.cp: list[bytes] = []
        self.data: list[bytes] = []

    def on_cp(self, _: object, data: bytearray) -> None:
        self.cp.append(bytes(data))

    def on_data(self, _: object, data: bytearray) -> None:
        self.data.append(bytes(data))


async def connected(
    vstrap: VirtualStrap, subscribe: bool = True
) -> tuple[BleakClient, Indications]:
    device = await BleakScanner.find_device_by_name(
        vstrap.name, timeout=2.0, backend=vstrap.scanner_backend
    )
    assert device is not None
    client = BleakClient(device, backend=vstrap.client_backend)
    await client.connect()
    got = Indications()
    if subscribe:
        await client.start_notify(pmd.PMD_CP_UUID, got.on_cp)
        await client.start_notify(pmd.PMD_DATA_UUID, got.on_data)
    return client, got


async def ask(client: BleakClient, got: Indications, request: str) -> bytes | None:
    before = len(got.cp)
    await client.write_gatt_char(pmd.PMD_CP_UUID, bytes.fromhex(request), response=True)
    await asyncio.sleep(0.01)
    return got.cp[-1] if len(got.cp) > before else None


def test_scan_sees_an_h10_advertisement() -> None:
    vstrap = strap(10)

    async def main() -> None:
        found = await BleakScanner.discover(
            timeout=0.5, return_adv=True, backend=vstrap.scanner_backend
        )
        ((device, adv),) = found.values()
        assert device.address == vstrap.address and adv.local_name == "Polar H10 0A1B2C3D"
        assert adv.service_uuids == [hrs.HR_SERVICE_UUID]
        assert 0x006B in adv.manufacturer_data  # Polar Electro Oy
        # the H10 does not advertise PMD: a PMD-filtered scan finds nothing
        none = await BleakScanner.discover(
            timeout=0.5, service_uuids=[pmd.PMD_SERVICE_UUID], backend=vstrap.scanner_backend
        )
        assert none == []
        async with vstrap.bleak_scanner() as scanner:
            await asyncio.sleep(0.3)
        assert [d.name for d in scanner.discovered_devices] == [vstrap.name]

    run_virtual(main())


def test_control_point_exchange_is_byte_exact() -> None:
    vstrap = strap(30)

    async def main() -> None:
        client, got = await connected(vstrap)
        assert client.backend_id == "VirtualBleakClient"
        assert bytes(await client.read_gatt_char(pmd.PMD_CP_UUID)) == bytes.fromhex(
            "0f05" + "00" * 15
        )
        assert bytes(await client.read_gatt_char(battery.BATTERY_LEVEL_UUID)) == b"\x57"
        assert await ask(client, got, "0100") == bytes.fromhex("f0010000000001820001010e00")
        assert await ask(client, got, "0200") == bytes.fromhex("f002000500")  # no settings
        assert await ask(client, got, "02000001820001011000") == bytes.fromhex(
            "f002000700"
        )  # 16 bit: invalid resolution
        assert await ask(client, got, "02000001c80001010e00") == bytes.fromhex("f002000800")
        assert await ask(client, got, "0a00") == bytes.fromhex("f00a000100")  # unknown op code
        assert await ask(client, got, "0104") == bytes.fromhex("f001040200")  # type 4 undefined
        assert await ask(client, got, "02000001820001010e00") == bytes.fromhex("f00200000000")
        assert await ask(client, got, "02000001820001010e00") == bytes.fromhex("f002000600")
        await asyncio.sleep(2.0)
        assert len(got.data) == 3
        assert all(len(frame) == 229 for frame in got.data)
        frames = [pmd.decode_ecg_frame(d) for d in got.data]
        assert [f.sensor_ns for f in frames] == [
            vstrap.sensor_ns_of_sample(73 * k + 72) for k in range(3)
        ]
        assert frames[0].sensor_ns - pmd.H10_DEFAULT_SENSOR_NS == round(72 / 130 * 1e9)
        assert await ask(client, got, "0300") == bytes.fromhex("f003000000")
        await asyncio.sleep(2.0)
        assert len(got.data) == 3  # stopped
        await client.disconnect()
        assert not client.is_connected

    run_virtual(main())


def test_no_reply_without_indications_and_mtu_errors() -> None:
    async def main() -> None:
        vstrap = strap(10)
        client, got = await connected(vstrap, subscribe=False)
        await client.write_gatt_char(pmd.PMD_CP_UUID, pmd.start_ecg_request(), response=True)
        await asyncio.sleep(1.0)
        assert got.cp == []  # an indication nobody enabled is never seen
        await client.disconnect()

        small = strap(10, Faults(mtu=50))
        client, got = await connected(small)
        assert client.mtu_size == 50
        assert await ask(client, got, "02000001820001010e00") == bytes.fromhex("f002000a00")
        await client.disconnect()

        minimum = strap(10, Faults(mtu=70))
        client, got = await connected(minimum)
        assert await ask(client, got, "02000001820001010e00") == bytes.fromhex("f00200000000")
        await asyncio.sleep(1.0)
        assert {len(d) for d in got.data} == {67}  # 19 samples at the H10's minimum MTU
        await client.disconnect()

    run_virtual(main())


def test_disconnect_callback_fires_for_link_loss_and_for_disconnect() -> None:
    vstrap = strap(60, Faults(disconnect_after_s=1.0))

    async def main() -> None:
        calls: list[str] = []
        device = await BleakScanner.find_device_by_address(
            vstrap.address, timeout=2.0, backend=vstrap.scanner_backend
        )
        assert device is not None
        client = BleakClient(device, lambda c: calls.append("lost"), backend=vstrap.client_backend)
        await client.connect()
        await client.start_notify(pmd.PMD_CP_UUID, lambda c, d: None)
        await client.write_gatt_char(pmd.PMD_CP_UUID, pmd.start_ecg_request(), response=True)
        await asyncio.sleep(2.0)
        assert calls == ["lost"] and not client.is_connected and not vstrap.streaming
        # reconnect on the same BleakClient, then a solicited disconnect also calls back
        await client.connect()
        await client.disconnect()
        await asyncio.sleep(0)
        assert calls == ["lost", "lost"]

    run_virtual(main())


def test_bluez_read_echo_fault() -> None:
    vstrap = strap(10, Faults(echo_reads=True))

    async def main() -> None:
        client, got = await connected(vstrap)
        await client.read_gatt_char(pmd.PMD_CP_UUID)
        await asyncio.sleep(0.01)
        assert got.cp == [bytes.fromhex("0f05" + "00" * 15)]
        await client.disconnect()

    run_virtual(main())


def test_connect_by_address_string_and_unknown_address() -> None:
    vstrap = strap(10)

    async def main() -> None:
        client = vstrap.bleak_client()
        await client.connect()
        assert client.is_connected and client.name == vstrap.name
        await client.disconnect()
        stranger = BleakClient("00:00:00:00:00:01", backend=vstrap.client_backend)
        with pytest.raises(BleakDeviceNotFoundError):
            await stranger.connect()

    run_virtual(main())


def test_a_late_event_loop_loses_no_frame_that_left_before_the_link_loss() -> None:
    """The virtual strap runs in the host's event loop. When that loop is busy, the
    sender and the scripted link loss wake up together, late, and the link loss used to
    win: frames due before it were never sent and the host counted them lost. A real
    strap sends on its own clock, so every frame due before the link dropped was on the
    air, and its out-of-range window starts when the link dropped, not when the loop got
    round to it. Here the loop is stalled for 4 s across the link loss (virtual time)."""
    vstrap = strap(60, Faults(disconnect_after_s=20.0, out_of_range_s=8.0))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        events: list[object] = []
        device = await BleakScanner.find_device_by_address(
            vstrap.address, timeout=2.0, backend=vstrap.scanner_backend
        )
        assert device is not None
        client = BleakClient(device, lambda c: events.append("lost"), backend=vstrap.client_backend)
        await client.connect()
        await client.start_notify(pmd.PMD_CP_UUID, lambda c, d: None)
        await client.start_notify(
            pmd.PMD_DATA_UUID, lambda c, d: events.append(pmd.decode_ecg_frame(d).sensor_ns)
        )
        started = loop.time()
        await client.write_gatt_char(pmd.PMD_CP_UUID, pmd.start_ecg_request(), response=True)
        await asyncio.sleep(17.0 - (loop.time() - started))
        sent_before_stall = len(events)
        loop.advance(4.0)  # the host is busy from 17 s to 21 s: nothing runs meanwhile
        await asyncio.sleep(0.5)
        # every frame whose last sample was measured by the link loss at 20 s, then the loss
        due = [k for k in range(60) if (73 * k + 72) / 130 <= 20.0]
        assert events == [vstrap.sensor_ns_of_sample(73 * k + 72) for k in due] + ["lost"]
        assert sent_before_stall < len(due) - 4  # the stall held back several frames
        # out of range for 8 s from the link loss (20 s), not from when the loop ran it
        await asyncio.sleep(started + 27.9 - loop.time())
        assert not vstrap.advertising()
        await asyncio.sleep(0.2)
        assert vstrap.advertising()

    run_virtual(main())
