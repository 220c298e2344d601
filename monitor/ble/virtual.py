"""A virtual Polar H10 that speaks the real bytes through bleak's public API.

The strap is a custom bleak *backend*: `VirtualBleakScanner` and
`VirtualBleakClient` subclass bleak's `BaseBleakScanner`/`BaseBleakClient` and
are passed with `backend=` to the real `BleakScanner`/`BleakClient`, so the
session code under test (and the daemon's `--replay`, and `ecgmon demo`) is the
exact code that talks to a real strap. Only the radio is fake.

    strap = VirtualStrap(samples_uv, fs=130.0, speed=1.0, faults=Faults(drop=frozenset({12})))
    session = StrapSession(SessionConfig(), **strap.session_kwargs())
    # = scanner_backend=strap.scanner_backend, client_backend=strap.client_backend,
    #   clock=strap.clock

    strap.bleak_scanner(), strap.bleak_client()                # bleak's own classes, bound to it
    VirtualStrap.from_recording("../shared/data/mitdb/100")   # any WFDB/CSV, resampled to 130 Hz
    VirtualStrap.from_capture("fixtures/captures/h10_synthetic.jsonl")  # bit-for-bit replay

What it does, like an H10 on the air (byte sources in docs/PROTOCOL.md):

* advertises as `Polar H10 <id>` with the Heart Rate service UUID and Polar's
  company id, and stops advertising while connected or out of range;
* exposes the H10's GATT table (Heart Rate 0x180D, Battery 0x180F, PMD) with
  the real handles; a CP read returns the feature bitmap `0F 05 00...`;
* answers control-point writes with real response indications, including the
  errors: INVALID_PARAMETER (start without settings), INVALID_SAMPLE_RATE /
  INVALID_RESOLUTION (anything but 130 Hz / 14 bit), ALREADY_IN_STATE,
  INVALID_MTU (MTU under 70), INVALID_OP_CODE, INVALID_MEASUREMENT_TYPE;
  replies are dropped when CP indications are not enabled, as on the air;
* streams ECG frames of the H10's size (73 samples at MTU 232) at the H10's
  pace, timestamped on its own clock (2019-01-01 default, with drift), and
  heart rate with RR intervals about once a second;
* at the end of the source it sends `01 00` (measurement stopped) and
  `exhausted` becomes true.

Time: all pacing uses the event loop's clock divided by `speed` (1.0 = real
time, 50.0 = fifty times faster). `strap.clock` is the matching host clock in
Unix ns, to give the session so that strap and host agree. Tests run the loop
on virtual time (monitor/ble/simtime.py) and take no wall time at all. On real
time the strap shares the host's event loop and can wake late; it then sends all
that is due at once, and a scripted link loss first sends every frame due before
it and takes effect (with its out-of-range window) at its scripted instant, as a
strap that sends on its own clock would.

Fault switches (`Faults`) act on frame indices of the source (frame k holds
samples k*n .. k*n+n-1): drop, duplicate, reorder (sent after the next),
delay, malformed, plus disconnect after N seconds, out of range for a while,
stall while connected, refuse START, hang on connect, battery level, clock
drift, MTU, stale stream after link loss, replies that arrive before the
write returns or so late that ECG frames come first, and BlueZ's echo of reads
as notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

from monitor.ble import battery, hrs, pmd
from monitor.ble.capture import Capture, read_capture
from monitor.ble.errors import BleDecodeError
from monitor.ble.hrtrack import HeartRateTrack

POLAR_COMPANY_ID = 0x006B
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
ECG_CLIP_UV = 20_000
"""The H10's dynamic input range is +-20 mV (H10_ECG_Explained)."""


@dataclass(frozen=True)
class Faults:
    """Everything that can go wrong, switched on per test. Indices are source frames.

    drop / duplicate / malformed: frames never sent, sent twice, sent truncated.
    reorder: frame k is sent right after frame k+1. delay_s: {k: seconds} frame k
    (and the ones queued behind it) leaves that much later. clock_jump_s: {k: seconds}
    the strap's clock is set back that much (forwards if negative) from frame k on.
    disconnect_after_s: link loss that long after START (at most max_disconnects
    times); out_of_range_s: then invisible to scans and connects for that long.
    stall_after_s: once, stop sending while staying connected.
    refuse_start: refuse that many STARTs (-1: all) with refuse_status.
    hang_on_connect: that many connects never complete.
    battery_percent, clock_drift_ppm (strap clock vs host), mtu (frame size; under
    70 the H10 refuses), stale_stream (a stream survives link loss: the next START
    is ALREADY_IN_STATE until STOP), stuck_stops, reply_before_write_returns,
    reply_delay_s, echo_reads.
    """

    drop: frozenset[int] = frozenset()
    duplicate: frozenset[int] = frozenset()
    reorder: frozenset[int] = frozenset()
    delay_s: Mapping[int, float] = field(default_factory=dict)
    clock_jump_s: Mapping[int, float] = field(default_factory=dict)
    malformed: frozenset[int] = frozenset()
    disconnect_after_s: float | None = None
    max_disconnects: int = 1
    out_of_range_s: float = 0.0
    stall_after_s: float | None = None
    refuse_start: int = 0
    refuse_status: int = pmd.Status.INVALID_STATE
    hang_on_connect: int = 0
    battery_percent: int = 87
    clock_drift_ppm: float = 0.0
    mtu: int = pmd.H10_DEFAULT_MTU
    stale_stream: bool = False
    stuck_stops: int = 0
    """That many STOPs are answered with success but leave the stream running
    (polar-ble-sdk issue #255: ALREADY_IN_STATE that only a battery pull cleared); -1: all."""
    reply_before_write_returns: bool = False
    reply_delay_s: float = 0.0
    """CP replies this late: with over ~0.55 s, ECG frames arrive before START's reply."""
    echo_reads: bool = False
    """BlueZ with StartNotify: a read of a subscribed characteristic also arrives as a
    notification (bleak bluezdbus client.py start_notify comment)."""


def _strap_values(samples_uv: np.ndarray | Sequence[float]) -> np.ndarray:
    """The source as the strap measures it: whole microvolts within its input range.

    Samples that already are (another strap's `samples_uv`, when a replay loops) are
    shared, not copied: looping a day-long recording holds it in memory once.
    """
    given = np.asarray(samples_uv)
    if given.dtype == np.int32 and (
        given.size == 0 or (given.min() >= -ECG_CLIP_UV and given.max() <= ECG_CLIP_UV)
    ):
        return given
    values = np.clip(np.rint(np.asarray(given, dtype=np.float64)), -ECG_CLIP_UV, ECG_CLIP_UV)
    return values.astype(np.int32)


@dataclass
class _Source:
    """Frames (and heart-rate notifications) on the strap's timeline, seconds from stream start.

    Everything is computed when it is sent, so a day-long source costs no more at
    start-up than a minute (finding B2). hr_from(elapsed): the heart-rate
    notifications (due second, bytes) from `elapsed` on.
    """

    frame_due_s: Callable[[int], float]
    frame_payload: Callable[[int], bytes]
    frame_count: int
    hr_from: Callable[[float], Iterator[tuple[float, bytes]]]
    hr_track: HeartRateTrack | None = None


# --------------------------------------------------------------------- the strap


class VirtualStrap:
    """A Polar H10 in software. See the module docstring for the whole picture."""

    def __init__(
        self,
        samples_uv: np.ndarray | Sequence[float],
        fs: float = float(pmd.H10_ECG_FS),
        *,
        speed: float = 1.0,
        faults: Faults | None = None,
        name: str = "Polar H10 0A1B2C3D",
        address: str = "A0:9E:1A:0A:1B:2C",
        rssi: int = -58,
        ecg: bool = True,
        sensor_start_ns: int = pmd.H10_DEFAULT_SENSOR_NS,
        r_peaks: np.ndarray | Sequence[int] | None = None,
        host_start_ns: int | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.fs = float(fs)
        self.speed = float(speed)
        self.faults = faults or Faults()
        self.name = name
        self.address = address
        self.rssi = rssi
        self.ecg = ecg
        self.sensor_start_ns = sensor_start_ns
        self.samples_uv = _strap_values(samples_uv)
        self.r_peaks = None if r_peaks is None else np.asarray(r_peaks, dtype=np.int64)
        self.samples_per_frame = pmd.samples_per_frame(self.faults.mtu)
        self.battery_percent = self.faults.battery_percent
        self._source: _Source | None = None
        self._capture: Capture | None = None
        self._connection: _Connection | None = None
        self._streaming = False
        self._stream_origin: float | None = None
        self._hr_origin: float | None = None
        self._invisible_until = -1.0
        self._disconnects = 0
        self._stalled = False
        self._refusals = 0
        self._stuck = 0
        self._hangs = 0
        self._exhausted = False
        self._host_start_ns = host_start_ns
        self._clock_base: tuple[float, int] | None = None
        self.log: list[tuple[str, bytes]] = []
        """Every control-point write the strap received, for tests: ("write", bytes)."""
        self.scanner_backend: type[VirtualBleakScanner] = type(
            "VirtualBleakScanner", (VirtualBleakScanner,), {"straps": (self,)}
        )
        self.client_backend: type[VirtualBleakClient] = type(
            "VirtualBleakClient", (VirtualBleakClient,), {"straps": (self,)}
        )

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_recording(
        cls,
        path: str | Path,
        *,
        fs: float | None = None,
        column: str | None = None,
        units: str = "uV",
        **kwargs: Any,
    ) -> VirtualStrap:
        """Any recording `load_recording` reads (WFDB, CSV), resampled to 130 Hz."""
        from monitor.recording import load_recording
        from monitor.signal.resample import resample_record

        recording = load_recording(path, fs=fs, column=column, units=units)
        samples = resample_record(recording.samples_uv, recording.fs, float(pmd.H10_ECG_FS))
        return cls(samples, float(pmd.H10_ECG_FS), **kwargs)

    @classmethod
    def from_source(
        cls,
        source: str | Path | None,
        *,
        seconds: float = 600.0,
        fs: float | None = None,
        **kwargs: Any,
    ) -> VirtualStrap:
        """What `--virtual [--source PATH]` means on the command line.

        None: `seconds` of the synthetic ECG; a `.jsonl` file: a capture; anything
        else: a recording (WFDB record or CSV; a CSV needs `fs`).
        """
        if source is None:
            from monitor.ble.synthetic import synthetic_ecg

            samples, peaks = synthetic_ecg(seconds, float(pmd.H10_ECG_FS))
            return cls(samples, float(pmd.H10_ECG_FS), r_peaks=peaks, **kwargs)
        if str(source).endswith(".jsonl"):
            return cls.from_capture(source, **kwargs)
        return cls.from_recording(source, fs=fs, **kwargs)

    @classmethod
    def from_capture(cls, path: str | Path, **kwargs: Any) -> VirtualStrap:
        """Replay a capture: its PMD data and heart-rate notifications, bit for bit."""
        capture = read_capture(path)
        frames = capture.notifications(pmd.PMD_DATA_UUID)
        kwargs.setdefault("name", capture.device_name or "Polar H10 0A1B2C3D")
        strap = cls(np.zeros(0), **kwargs)
        strap._capture = capture
        levels = [r.data for r in capture.records if r.char == battery.BATTERY_LEVEL_UUID]
        if levels and len(levels[-1]) == 1 and "faults" not in kwargs:
            strap.battery_percent = min(100, levels[-1][0])
        if frames:
            strap.samples_per_frame = max(1, (len(frames[0].data) - pmd.ECG_FRAME_HEADER) // 3)
        return strap

    # ------------------------------------------------------------------ public state

    def bleak_scanner(self, **kwargs: Any) -> BleakScanner:
        """bleak's real BleakScanner, hearing this strap."""
        return BleakScanner(backend=self.scanner_backend, **kwargs)

    def bleak_client(self, **kwargs: Any) -> BleakClient:
        """bleak's real BleakClient, bound to this strap (by address)."""
        return BleakClient(self.address, backend=self.client_backend, **kwargs)

    def session_kwargs(self) -> dict[str, Any]:
        """What `StrapSession(config, **strap.session_kwargs())` needs to use this strap."""
        return {
            "scanner_backend": self.scanner_backend,
            "client_backend": self.client_backend,
            "clock": self.clock,
        }

    @property
    def exhausted(self) -> bool:
        """True once every frame of the source has been sent."""
        return self._exhausted

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def streaming(self) -> bool:
        return self._streaming

    def clock(self) -> int:
        """Host time in Unix ns as the strap sees it (event-loop time scaled by `speed`)."""
        loop_now = asyncio.get_running_loop().time()
        if self._clock_base is None:
            wall = self._host_start_ns if self._host_start_ns is not None else time.time_ns()
            self._clock_base = (loop_now, wall)
        loop0, wall0 = self._clock_base
        return wall0 + round((loop_now - loop0) * self.speed * 1e9)

    def set_battery(self, percent: int) -> None:
        """Change the battery level; notifies a subscribed host."""
        self.battery_percent = percent
        if self._connection is not None:
            self._connection.notify(battery.BATTERY_LEVEL_UUID, battery.encode_battery(percent))

    def sensor_ns_of_sample(self, index: int) -> int:
        """The strap's timestamp of source sample `index` (drift included)."""
        seconds = index / self.fs
        return self.sensor_start_ns + round(
            seconds * 1e9 * (1.0 + self.faults.clock_drift_ppm * 1e-6)
        )

    # ------------------------------------------------------------------ air

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def advertising(self) -> bool:
        return self._connection is None and self._loop_time() >= self._invisible_until

    def advertisement(self) -> AdvertisementData:
        return AdvertisementData(
            local_name=self.name,
            manufacturer_data={POLAR_COMPANY_ID: bytes.fromhex("3f0000")},
            service_data={},
            service_uuids=[hrs.HR_SERVICE_UUID],
            tx_power=None,
            rssi=self.rssi,
            platform_data=(),
        )

    async def _accept(self, client: VirtualBleakClient) -> _Connection:
        if not self.advertising():
            raise BleakDeviceNotFoundError(self.address, f"{self.address} is out of range")
        if self._hangs < self.faults.hang_on_connect:
            self._hangs += 1
            await asyncio.sleep(3600.0)  # never completes: the caller's timeout must fire
        await asyncio.sleep(0.25 / self.speed)  # connection set-up and service discovery
        if not self.advertising():
            raise BleakDeviceNotFoundError(self.address, f"{self.address} went out of range")
        connection = _Connection(self, client)
        self._connection = connection
        if not (self.faults.stale_stream and self._streaming):
            self._streaming = False
        return connection

    def _release(self, connection: _Connection, solicited: bool, at: float | None = None) -> None:
        if self._connection is not connection:
            return
        self._connection = None
        connection.close()
        if (solicited or not self.faults.stale_stream) and self.faults.stuck_stops >= 0:
            self._streaming = False  # a stream that cannot be stopped survives any disconnect
        if not solicited and self.faults.out_of_range_s > 0:
            lost_at = self._loop_time() if at is None else at
            self._invisible_until = lost_at + self.faults.out_of_range_s / self.speed

    # ------------------------------------------------------------------ GATT

    def gatt(self, client: VirtualBleakClient) -> BleakGATTServiceCollection:
        """The H10's attribute table (handles from a real H10's gatttool dump)."""
        services = BleakGATTServiceCollection()
        mtu = self.faults.mtu

        def add(
            service_handle: int, uuid: str, chars: list[tuple[int, str, list[str], bool]]
        ) -> None:
            service = BleakGATTService(None, service_handle, uuid)
            services.add_service(service)
            for handle, char_uuid, props, cccd in chars:
                char = BleakGATTCharacteristic(
                    None,
                    handle,
                    char_uuid,
                    props,  # type: ignore[arg-type]
                    lambda: mtu - 3,
                    service,
                )
                services.add_characteristic(char)
                if cccd:
                    services.add_descriptor(BleakGATTDescriptor(None, handle + 1, CCCD_UUID, char))

        add(
            0x0E,
            hrs.HR_SERVICE_UUID,
            [
                (0x10, hrs.HR_MEASUREMENT_UUID, ["notify"], True),
                (0x13, hrs.BODY_SENSOR_LOCATION_UUID, ["read"], False),
            ],
        )
        add(
            0x3B,
            battery.BATTERY_SERVICE_UUID,
            [
                (0x3D, battery.BATTERY_LEVEL_UUID, ["read", "notify"], True),
            ],
        )
        if self.ecg:
            add(
                0x45,
                pmd.PMD_SERVICE_UUID,
                [
                    (0x47, pmd.PMD_CP_UUID, ["read", "write", "indicate"], True),
                    (0x4A, pmd.PMD_DATA_UUID, ["notify"], True),
                ],
            )
        return services

    def read(self, uuid: str) -> bytes:
        if uuid == battery.BATTERY_LEVEL_UUID:
            return battery.encode_battery(self.battery_percent)
        if uuid == hrs.BODY_SENSOR_LOCATION_UUID:
            return b"\x01"  # chest
        if uuid == pmd.PMD_CP_UUID:
            return pmd.encode_features({pmd.MeasurementType.ECG, pmd.MeasurementType.ACC})
        raise BleakError(f"characteristic {uuid} is not readable")

    def control_point(self, data: bytes) -> bytes:
        """The response indication to one CP write (the strap's protocol logic)."""
        self.log.append(("write", data))
        if len(data) < 2:
            op = data[0] if data else 0
            return pmd.encode_response(pmd.CpResponse(op, 0, pmd.Status.INVALID_LENGTH))
        try:
            request = pmd.decode_request(data)
        except BleDecodeError:
            if data[0] not in set(pmd.Opcode):
                return pmd.encode_response(
                    pmd.CpResponse(data[0], data[1] & 0x3F, pmd.Status.INVALID_OP_CODE)
                )
            if data[1] & 0x3F not in set(pmd.MeasurementType):
                return pmd.encode_response(
                    pmd.CpResponse(data[0], data[1] & 0x3F, pmd.Status.INVALID_MEASUREMENT_TYPE)
                )
            return pmd.encode_response(
                pmd.CpResponse(data[0], data[1] & 0x3F, pmd.Status.INVALID_PARAMETER)
            )
        return pmd.encode_response(self._answer(request))

    def _answer(self, request: pmd.CpRequest) -> pmd.CpResponse:
        op, kind = request.opcode, request.measurement

        def status(code: int, params: bytes = b"") -> pmd.CpResponse:
            return pmd.CpResponse(op, kind, code, False, params)

        if op not in (
            pmd.Opcode.GET_MEASUREMENT_SETTINGS,
            pmd.Opcode.REQUEST_MEASUREMENT_START,
            pmd.Opcode.STOP_MEASUREMENT,
        ):
            return status(pmd.Status.NOT_SUPPORTED)
        if kind not in (pmd.MeasurementType.ECG, pmd.MeasurementType.ACC):
            return status(pmd.Status.INVALID_MEASUREMENT_TYPE)
        if self.faults.mtu < pmd.H10_MIN_MTU and op != pmd.Opcode.STOP_MEASUREMENT:
            return status(pmd.Status.INVALID_MTU)
        if op == pmd.Opcode.GET_MEASUREMENT_SETTINGS:
            if kind == pmd.MeasurementType.ECG:
                return status(pmd.Status.SUCCESS, pmd.encode_settings(pmd.H10_ECG_SETTINGS))
            return status(
                pmd.Status.SUCCESS,
                pmd.encode_settings(
                    {
                        pmd.SettingType.SAMPLE_RATE: (25, 50, 100, 200),
                        pmd.SettingType.RESOLUTION: (16,),
                        pmd.SettingType.RANGE: (2, 4, 8),
                    }
                ),
            )
        if kind == pmd.MeasurementType.ACC:
            return status(pmd.Status.NOT_SUPPORTED)  # the virtual strap streams ECG only
        if op == pmd.Opcode.STOP_MEASUREMENT:
            if self._streaming and (
                self.faults.stuck_stops < 0 or self._stuck < self.faults.stuck_stops
            ):
                self._stuck += 1
                return status(pmd.Status.SUCCESS)
            self._streaming = False
            return status(pmd.Status.SUCCESS)
        settings = request.settings
        if not settings:
            return status(pmd.Status.INVALID_PARAMETER)
        if settings.get(pmd.SettingType.SAMPLE_RATE) != (pmd.H10_ECG_FS,):
            return status(pmd.Status.INVALID_SAMPLE_RATE)
        if settings.get(pmd.SettingType.RESOLUTION) != (pmd.H10_ECG_RESOLUTION,):
            return status(pmd.Status.INVALID_RESOLUTION)
        if self._streaming:
            return status(pmd.Status.ALREADY_IN_STATE)
        if self.faults.refuse_start < 0 or self._refusals < self.faults.refuse_start:
            self._refusals += 1
            return status(self.faults.refuse_status)
        if self._exhausted:
            return status(pmd.Status.INVALID_STATE)
        self._start_stream()
        return status(pmd.Status.SUCCESS, b"\x00")

    # ------------------------------------------------------------------ streaming

    def _start_stream(self) -> None:
        self._streaming = True
        if self._stream_origin is None:
            self._stream_origin = self._loop_time()  # the ECG timeline starts at the first START
        connection = self._connection
        if connection is not None:
            connection.start_ecg(self._loop_time())

    def _mark_hr_origin(self) -> None:
        if self._hr_origin is None:
            self._hr_origin = self._loop_time()

    def source(self) -> _Source:
        if self._source is None:
            self._source = self._capture_source() if self._capture else self._array_source()
        return self._source

    def _array_source(self) -> _Source:
        n = self.samples_per_frame
        count = len(self.samples_uv) // n
        fs = self.fs

        def due(k: int) -> float:
            return ((k + 1) * n - 1) / fs

        jumps = sorted(self.faults.clock_jump_s.items())

        def payload(k: int) -> bytes:
            last = (k + 1) * n - 1
            back_s = sum(s for at, s in jumps if at <= k)
            return pmd.encode_ecg_frame(
                self.sensor_ns_of_sample(last) - round(back_s * 1e9),
                self.samples_uv[k * n : (k + 1) * n],
            )

        track = HeartRateTrack(self.samples_uv, fs, self.r_peaks)
        return _Source(
            due, payload, count, lambda elapsed: track.from_second(math.ceil(elapsed)), track
        )

    def _capture_source(self) -> _Source:
        assert self._capture is not None
        frames = self._capture.notifications(pmd.PMD_DATA_UUID)
        hr = self._capture.notifications(hrs.HR_MEASUREMENT_UUID)
        # the first frame comes one frame's worth of samples after START, as on an H10
        lead_ns = round((self.samples_per_frame - 1) / pmd.H10_ECG_FS * 1e9)
        t0 = frames[0].t_ns - lead_ns if frames else 0
        times = [(r.t_ns - t0) / 1e9 for r in frames]
        h0 = hr[0].t_ns - 1_000_000_000 if hr else 0  # the first beat report ~1 s in
        hr_track = [((r.t_ns - h0) / 1e9, r.data) for r in hr]
        return _Source(
            lambda k: times[k],
            lambda k: frames[k].data,
            len(frames),
            lambda elapsed: ((due, data) for due, data in hr_track if due >= elapsed),
        )


class _Connection:
    """One link between the strap and a client backend: subscriptions and sender tasks."""

    def __init__(self, strap: VirtualStrap, client: VirtualBleakClient) -> None:
        self.strap = strap
        self.client = client
        self.subscriptions: dict[str, NotifyCallback] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.ecg_task: asyncio.Task[None] | None = None
        self.hr_task: asyncio.Task[None] | None = None
        self.closed = False
        # the ECG sender's place on the strap's timeline (set at each START)
        self._next_frame = 0
        self._held: bytes | None = None
        self._extra_s = 0.0
        self._silent = False
        self._stall_at: float | None = None

    def notify(self, uuid: str, data: bytes) -> None:
        callback = self.subscriptions.get(uuid)
        if callback is not None and not self.closed:
            callback(bytearray(data))

    def close(self) -> None:
        self.closed = True
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()

    def start_ecg(self, now: float) -> None:
        if self.ecg_task is not None:
            self.ecg_task.cancel()
        self._begin_ecg(now)
        self.ecg_task = asyncio.ensure_future(self._send_ecg())
        self.tasks.append(self.ecg_task)

    def start_hr(self) -> None:
        """Heart rate flows as soon as it is subscribed, with or without PMD."""
        if self.hr_task is None:
            self.strap._mark_hr_origin()
            self.hr_task = asyncio.ensure_future(self._send_hr())
            self.tasks.append(self.hr_task)

    async def _sleep_until(self, strap_s: float, origin: float | None) -> None:
        """Sleep until `strap_s` seconds after `origin` (loop time), scaled by speed."""
        strap = self.strap
        assert origin is not None
        target = origin + strap_s / strap.speed
        delay = target - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    def _begin_ecg(self, started: float) -> None:
        """A START at loop time `started`: where on the strap's timeline streaming resumes.

        Like an H10, the strap's clock ran on while nobody listened: the first frame sent
        is the first one measured after START, whatever the host's loop was doing. The
        scripted link loss is placed on the same timeline, so a late event loop moves
        neither it nor the out-of-range window that follows it.
        """
        strap = self.strap
        faults = strap.faults
        source = strap.source()
        assert strap._stream_origin is not None
        elapsed = (started - strap._stream_origin) * strap.speed
        k = 0
        while k < source.frame_count and source.frame_due_s(k) < elapsed:
            k += 1  # frames measured while nobody was listening are gone
        self._next_frame = k
        self._held = None
        self._extra_s = 0.0
        self._silent = False
        self._stall_at = (
            elapsed + faults.stall_after_s
            if faults.stall_after_s is not None and not strap._stalled
            else None
        )
        if faults.disconnect_after_s is not None and strap._disconnects < faults.max_disconnects:
            loss_s = elapsed + faults.disconnect_after_s
            asyncio.get_running_loop().call_at(
                strap._stream_origin + loss_s / strap.speed, self._link_loss, loss_s
            )

    def _strap_now_s(self) -> float:
        """Now on the strap's timeline: seconds since the stream's origin."""
        strap = self.strap
        assert strap._stream_origin is not None
        return (asyncio.get_running_loop().time() - strap._stream_origin) * strap.speed

    def _leaves_at_s(self, k: int) -> float:
        """When frame k leaves the strap (its due time, held back by a scripted delay)."""
        return self.strap.source().frame_due_s(k) + max(
            self._extra_s, self.strap.faults.delay_s.get(k, 0.0)
        )

    def _send_due(self, until_s: float) -> bool:
        """Send every frame that has left the strap by `until_s` (strap timeline).

        A real strap sends on its own clock; this one runs in the host's event loop and
        can fall behind it, so whoever wakes it (the sender's timer, or the scripted
        link loss) sends all that is due at once. False once the strap went silent.
        """
        strap = self.strap
        faults = strap.faults
        source = strap.source()
        while (
            self._next_frame < source.frame_count
            and strap._streaming
            and not self.closed
            and not self._silent
        ):
            k = self._next_frame
            if self._leaves_at_s(k) > until_s:
                break
            self._extra_s = max(self._extra_s, faults.delay_s.get(k, 0.0))
            due = source.frame_due_s(k)
            if self._stall_at is not None and due >= self._stall_at:
                strap._stalled = True
                self._silent = True  # connected but silent: the host's watchdog must notice
                break
            payload = source.frame_payload(k)
            if k in faults.malformed:
                payload = payload[: pmd.ECG_FRAME_HEADER + 1]
            if k in faults.drop:
                pass
            elif k in faults.reorder and self._held is None:
                self._held = payload
            else:
                self.notify(pmd.PMD_DATA_UUID, payload)
                if k in faults.duplicate:
                    self.notify(pmd.PMD_DATA_UUID, payload)
                if self._held is not None:
                    self.notify(pmd.PMD_DATA_UUID, self._held)
                    self._held = None
            if faults.delay_s.get(k):
                self._extra_s = 0.0
            self._next_frame = k + 1
        return not self._silent

    async def _send_ecg(self) -> None:
        strap = self.strap
        source = strap.source()
        while self._next_frame < source.frame_count and strap._streaming and not self.closed:
            leaves = self._leaves_at_s(self._next_frame)
            await self._sleep_until(leaves, strap._stream_origin)
            if not strap._streaming or self.closed:
                return
            if not self._send_due(max(leaves, self._strap_now_s())):
                return
        if self._held is not None:
            self.notify(pmd.PMD_DATA_UUID, self._held)
            self._held = None
        if self._next_frame >= source.frame_count and strap._streaming and not self.closed:
            strap._exhausted = True
            strap._streaming = False
            self.notify(pmd.PMD_CP_UUID, bytes((0x01, pmd.MeasurementType.ECG)))

    async def _send_hr(self) -> None:
        strap = self.strap
        source = strap.source()
        assert strap._hr_origin is not None
        elapsed = (asyncio.get_running_loop().time() - strap._hr_origin) * strap.speed
        for due, payload in source.hr_from(elapsed):
            await self._sleep_until(due, strap._hr_origin)
            if self.closed:
                return
            self.notify(hrs.HR_MEASUREMENT_UUID, payload)

    def _link_loss(self, loss_s: float) -> None:
        """The scripted link loss, `loss_s` on the strap's timeline.

        Every frame that left the strap before the link dropped was on the air: send
        it first (the event loop may have run this late, behind the sender), then drop
        the link as of `loss_s`.
        """
        if self.closed:
            return
        strap = self.strap
        if strap._streaming:
            self._send_due(loss_s)
        strap._disconnects += 1
        assert strap._stream_origin is not None
        self.client._link_lost(strap._stream_origin + loss_s / strap.speed)


# --------------------------------------------------------------------- bleak backends


class VirtualBleakScanner(BaseBleakScanner):
    """bleak scanner backend that hears the virtual straps in `straps`."""

    straps: tuple[VirtualStrap, ...] = ()
    advertising_interval_s = 0.1

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.ensure_future(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            await asyncio.sleep(0)
            for strap in self.straps:
                if not strap.advertising():
                    continue
                adv = strap.advertisement()
                if not self.is_allowed_uuid(adv.service_uuids):
                    continue
                device = self.create_or_update_device(
                    strap.address, strap.address, strap.name, strap, adv
                )
                self.call_detection_callbacks(device, adv)
            await asyncio.sleep(self.advertising_interval_s / max(s.speed for s in self.straps))


class VirtualBleakClient(BaseBleakClient):
    """bleak client backend connected to one of the virtual straps in `straps`."""

    straps: tuple[VirtualStrap, ...] = ()

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        kwargs.pop("bluez", None)
        kwargs.pop("winrt", None)
        kwargs.pop("services", None)
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.pop("disconnected_callback", None),
            timeout=kwargs.pop("timeout", 10.0),
        )
        details = getattr(address_or_ble_device, "details", None)
        strap = details if isinstance(details, VirtualStrap) else None
        if strap is None:
            strap = next(
                (s for s in self.straps if s.address.lower() == self.address.lower()), None
            )
        self._strap = strap
        self._connection: _Connection | None = None

    @property
    def name(self) -> str:
        return self._strap.name if self._strap else self.address

    @property
    def mtu_size(self) -> int:
        return self._strap.faults.mtu if self._strap else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._connection.closed

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._strap is None:
            raise BleakDeviceNotFoundError(self.address, f"device {self.address} was not found")
        self._connection = await self._strap._accept(self)
        self.services = self._strap.gatt(self)

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None or connection.closed:
            return
        assert self._strap is not None
        self._strap._release(connection, solicited=True)
        self._fire_disconnected()

    def _link_lost(self, at: float | None = None) -> None:
        """The link dropped (at loop time `at`, default now), unasked."""
        connection = self._connection
        if connection is None or connection.closed or self._strap is None:
            return
        self._strap._release(connection, solicited=False, at=at)
        self._fire_disconnected()

    def _fire_disconnected(self) -> None:
        # like BlueZ: the callback runs on the loop, for solicited disconnects too
        callback = self._disconnected_callback
        if callback is not None:
            asyncio.get_running_loop().call_soon(callback)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _require(self) -> _Connection:
        if self._connection is None or self._connection.closed:
            raise BleakError("Not connected")
        return self._connection

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        connection = self._require()
        assert self._strap is not None
        value = self._strap.read(characteristic.uuid)
        if self._strap.faults.echo_reads and characteristic.uuid in connection.subscriptions:
            asyncio.get_running_loop().call_soon(connection.notify, characteristic.uuid, value)
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        connection = self._require()
        on = descriptor.characteristic_uuid in connection.subscriptions
        return bytearray(b"\x01\x00" if on else b"\x00\x00")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        connection = self._require()
        assert self._strap is not None
        if characteristic.uuid != pmd.PMD_CP_UUID:
            raise BleakError(f"characteristic {characteristic.uuid} is not writable")
        reply = self._strap.control_point(bytes(data))
        faults = self._strap.faults
        if faults.reply_before_write_returns:
            connection.notify(pmd.PMD_CP_UUID, reply)
        elif faults.reply_delay_s > 0:
            asyncio.get_running_loop().call_later(
                faults.reply_delay_s / self._strap.speed, connection.notify, pmd.PMD_CP_UUID, reply
            )
        else:
            asyncio.get_running_loop().call_soon(connection.notify, pmd.PMD_CP_UUID, reply)
        await asyncio.sleep(0)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        self._require()
        raise BleakError("descriptor writes are not supported by the virtual strap")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        connection = self._require()
        connection.subscriptions[characteristic.uuid] = callback
        if characteristic.uuid == hrs.HR_MEASUREMENT_UUID:
            connection.start_hr()

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        connection = self._require()
        connection.subscriptions.pop(characteristic.uuid, None)
