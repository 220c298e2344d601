"""A dependable connection to an ECG chest strap, on bleak's public API.

`StrapSession` finds a strap (Polar H10 first: PMD raw ECG; any Heart Rate
Service strap as a fallback), connects with bleak's real `BleakClient`, starts
the streams and yields `monitor.frame.EcgFrame`s plus typed events
(`monitor.ble.events`) until it is closed. Passing `scanner_backend=` /
`client_backend=` (bleak's own `backend=` parameter) swaps the radio for the
virtual strap in `monitor.ble.virtual`; nothing else changes.

    async with StrapSession(SessionConfig(name="Polar H10")) as session:
        async for item in session.stream():
            ...  # EcgFrame | SessionEvent

How it stays dependable (the rules come from bleak's and Polar's issue trackers,
see docs/PROTOCOL.md):

* a fresh scan and a new `BleakClient` for every attempt, connect wrapped in our
  own timeout, `disconnect()` in `finally`;
* CP indications and data notifications enabled before any CP write, the
  response waiter armed before the write (the strap may answer, or stream,
  before the write returns); STOP before START clears a stale stream and
  ALREADY_IN_STATE is answered with STOP + START;
* after any disconnect, stall (watchdog) or refused start: back off
  exponentially with jitter, bounded, forever unless `max_attempts` is set;
* notification callbacks are synchronous and only enqueue, so order is kept;
* every frame is placed by its timestamp: gaps, duplicates, reordering, late
  frames and jumps of the strap's clock become events, malformed packets are
  counted and skipped;
* a frame's host time follows the strap's timeline: the clock map places the start
  of a timeline (the first frame, or one the strap's clock cannot bridge) and each
  later frame starts where the one before it (or a gap) ended, so a host that stalls
  or whose clock steps delays frames but never makes a hole in the stream.

Time and randomness are injectable (`clock`, `sleep`, `rng`) so tests run fast
and deterministically; all timeouts use the event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from monitor.ble import battery, hrs, pmd
from monitor.ble.errors import BleDecodeError, ControlPointError, bluetooth_unavailable
from monitor.ble.events import (
    BatteryLevel,
    ClockJump,
    DuplicateFrame,
    EcgUnavailable,
    Gap,
    HeartRate,
    LateFrame,
    Malformed,
    OutOfOrderFrame,
    SessionEvent,
    SessionState,
    Stalled,
    StateChanged,
    StreamStopped,
)
from monitor.ble.timing import (
    ClockMap,
    FrameSequencer,
    Jumped,
    Missing,
    Placed,
    Repeated,
    Restarted,
    SequencerOutput,
)
from monitor.frame import EcgFrame

RawObserver = Callable[[str, str, bytes, int], None]
"""(characteristic uuid, kind 'notify'|'read'|'write', bytes, host ns) for captures."""

STRAP_SERVICES = (pmd.PMD_SERVICE_UUID, hrs.HR_SERVICE_UUID)
WATCH_PUSH_S = 1.0
"""An ECG notification moves the stall timer on when it is due within this long (more
than a notification's spacing, so while ECG flows it never fires; see `_watch`)."""
PERMANENT_REFUSALS = frozenset(
    {
        pmd.Status.INVALID_OP_CODE,
        pmd.Status.INVALID_MEASUREMENT_TYPE,
        pmd.Status.NOT_SUPPORTED,
        pmd.Status.INVALID_PARAMETER,
        pmd.Status.INVALID_RESOLUTION,
        pmd.Status.INVALID_SAMPLE_RATE,
        pmd.Status.INVALID_MTU,
    }
)
"""START refusals that another attempt cannot fix: continue with heart rate only.
Anything else (INVALID_STATE, DEVICE_IN_CHARGER, ...) fails the attempt and retries."""


@dataclass(frozen=True)
class SessionConfig:
    """What to connect to and how patiently.

    address / name: the strap to use (name matches exactly or as a prefix, e.g.
    "Polar H10"); neither means the first strap that advertises PMD or Heart Rate.
    """

    address: str | None = None
    name: str | None = None
    ecg: bool = True
    heart_rate: bool = True
    battery: bool = True
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    cp_timeout_s: float = 10.0
    watchdog_s: float = 2.5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    backoff_jitter: float = 0.25
    max_attempts: int | None = None
    late_threshold_s: float = 1.0


class _AttemptFailed(Exception):
    """One connection attempt ended; the message is the reason shown to the user."""


def matches(config: SessionConfig, device: BLEDevice, adv: AdvertisementData) -> bool:
    """Whether an advertisement is the strap the config asks for."""
    if config.address is not None:
        return device.address.lower() == config.address.lower()
    name = adv.local_name or device.name or ""
    if config.name is not None:
        return name == config.name or name.startswith(config.name)
    uuids = {u.lower() for u in adv.service_uuids}
    return bool(uuids & set(STRAP_SERVICES)) or name.startswith("Polar ")


def backoff_delay(failures: int, config: SessionConfig, rng: random.Random) -> float:
    """Exponential backoff with +-jitter, capped at backoff_max_s."""
    base = config.backoff_initial_s * 2.0 ** max(0, failures - 1)
    jitter = 1.0 + config.backoff_jitter * (2.0 * rng.random() - 1.0)
    return min(config.backoff_max_s, base * jitter)


class StrapSession:
    """Connect, stream, detect losses and reconnect; yields frames and events."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        raw_observer: RawObserver | None = None,
    ) -> None:
        self.config = config
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._raw_observer = raw_observer
        self.clock_map = ClockMap()
        self.sequencer = FrameSequencer(pmd.H10_ECG_FS)
        self.malformed = 0
        self.state = SessionState.STOPPED
        self._queue: asyncio.Queue[EcgFrame | SessionEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._cp_waiter: tuple[int, asyncio.Future[pmd.CpResponse]] | None = None
        self._cp_params = bytearray()
        self._last_rx = 0.0
        self._late_run = 0
        self._link_event: asyncio.Event | None = None
        self._link_reason = ""
        self._watch_timer: asyncio.TimerHandle | None = None  # the stall timer (`_watch`)
        self._watch_at = 0.0
        self._watch_check: Callable[[], None] | None = None
        self._hr_feeds_watchdog = False
        self._end_ns: int | None = None
        self._anchor = True
        self.device_name = ""
        self.device_address = ""
        self._bridge_from_ns: int | None = None

    # ------------------------------------------------------------------ public

    @property
    def drift_ppm(self) -> float:
        """Estimated drift of the strap's clock against the host's (ppm)."""
        return self.clock_map.drift_ppm

    @property
    def sample_rate_hz(self) -> float:
        """The strap's measured ECG rate on its own clock (nominal 130 Hz)."""
        return self.sequencer.sample_rate_hz

    async def __aenter__(self) -> StrapSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def stream(self) -> AsyncIterator[EcgFrame | SessionEvent]:
        """Frames and events, in order, until `close()` or a final FAILED state."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise())
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        """Stop the stream on the strap, disconnect, end `stream()`.

        While connected the connection is wound down cleanly (STOP, then
        disconnect); while scanning or backing off the attempt is simply cancelled.
        """
        self._closing = True
        task = self._task
        if task is None:
            self._queue.put_nowait(None)
            return
        if task.done():
            return
        if self._link_event is not None:
            self._link_reason = self._link_reason or "closed"
            self._link_event.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self.config.cp_timeout_s + 5)
        if not task.done():
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            # The supervisor's own cancellation ends here; a cancellation aimed at
            # the caller (a daemon stopping) must go on, or the stop is lost.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    # ------------------------------------------------------------------ supervisor

    def _emit(self, item: EcgFrame | SessionEvent) -> None:
        self._queue.put_nowait(item)

    def _set_state(self, state: SessionState, **fields: Any) -> None:
        self.state = state
        self._emit(StateChanged(state, self._clock(), **fields))

    async def _supervise(self) -> None:
        failures = 0
        ever_connected = False
        try:
            while not self._closing:
                self._set_state(SessionState.SCANNING)
                try:
                    device = await self._find()
                    if self._closing:  # closed while scanning: do not connect now
                        break
                    ever_connected = True
                    streamed, reason = await self._connection(device)
                    failures = 0 if streamed else failures + 1
                except Exception as exc:  # any failure ends this attempt, never the session
                    unavailable = bluetooth_unavailable(exc)
                    if unavailable is not None and not ever_connected:
                        self._set_state(SessionState.FAILED, reason=unavailable)
                        return
                    reason = unavailable or _describe(exc)
                    failures += 1
                if self._closing:
                    break
                if self.config.max_attempts is not None and failures >= self.config.max_attempts:
                    self._set_state(SessionState.FAILED, reason=reason, attempt=failures)
                    return
                delay = backoff_delay(max(1, failures), self.config, self._rng)
                self._set_state(
                    SessionState.RECONNECTING,
                    reason=reason,
                    attempt=failures,
                    retry_in_s=round(delay, 3),
                )
                await self._sleep(delay)
            self._set_state(SessionState.STOPPED, reason="closed")
        except asyncio.CancelledError:
            self._set_state(SessionState.STOPPED, reason="closed")
            raise
        finally:
            self._queue.put_nowait(None)

    async def _find(self) -> BLEDevice:
        config = self.config
        kwargs: dict[str, Any] = {}
        if self._scanner_backend is not None:
            kwargs["backend"] = self._scanner_backend
        device = await BleakScanner.find_device_by_filter(
            lambda d, a: matches(config, d, a), timeout=config.scan_timeout_s, **kwargs
        )
        if device is None:
            wanted = config.address or config.name or "an ECG or heart-rate strap"
            raise _AttemptFailed(f"{wanted} not found within {config.scan_timeout_s:g} s")
        return device

    async def _connection(self, device: BLEDevice) -> tuple[bool, str]:
        """One connection from connect to link loss. Returns (streamed, reason it ended)."""
        config = self.config
        label = device.name or device.address
        self.device_name = device.name or ""
        self.device_address = device.address
        self._set_state(SessionState.CONNECTING, device=label)
        link = asyncio.Event()
        self._link_event = link
        self._link_reason = ""

        def on_disconnect(_: BleakClient) -> None:
            self._link_reason = self._link_reason or "strap disconnected"
            link.set()
            waiter = self._cp_waiter
            if waiter is not None and not waiter[1].done():  # no reply will come now
                waiter[1].set_exception(_AttemptFailed("strap disconnected during a request"))

        kwargs: dict[str, Any] = {}
        if self._client_backend is not None:
            kwargs["backend"] = self._client_backend
        client = BleakClient(
            device, disconnected_callback=on_disconnect, timeout=config.connect_timeout_s, **kwargs
        )
        for item in self.sequencer.restart():
            self._emit_sequenced(item, self._clock())
        ecg_on = False
        try:
            try:
                await asyncio.wait_for(client.connect(), config.connect_timeout_s + 5)
            except TimeoutError:
                raise _AttemptFailed(
                    f"connect to {label} timed out after {config.connect_timeout_s:g} s"
                ) from None
            services = client.services
            has_pmd = services.get_service(pmd.PMD_SERVICE_UUID) is not None
            has_hr = services.get_service(hrs.HR_SERVICE_UUID) is not None
            has_battery = services.get_service(battery.BATTERY_SERVICE_UUID) is not None
            if config.battery and has_battery:
                await self._start_battery(client)
            hr_on = False
            if config.heart_rate and has_hr:
                await client.start_notify(hrs.HR_MEASUREMENT_UUID, self._on_hr)
                hr_on = True
            if config.ecg:
                reason = "no PMD service (not a raw-ECG strap)"
                if has_pmd:
                    try:
                        ecg_on = await self._start_ecg(client)
                        reason = "" if ecg_on else "the strap does not offer ECG"
                    except ControlPointError as exc:
                        if exc.status not in PERMANENT_REFUSALS:
                            raise  # e.g. INVALID_STATE: worth another attempt after backoff
                        reason = str(exc)
                if not ecg_on:
                    if not hr_on:
                        raise _AttemptFailed(f"{label}: no ECG ({reason}) and no heart rate")
                    self._emit(EcgUnavailable(self._clock(), reason))
            if not ecg_on and not hr_on:
                raise _AttemptFailed(f"{label} offers neither ECG nor heart rate")
            mode = "ecg+hr" if ecg_on and hr_on else "ecg" if ecg_on else "hr"
            loop = asyncio.get_running_loop()
            self._last_rx = loop.time()
            self._hr_feeds_watchdog = not ecg_on
            self._set_state(SessionState.STREAMING, device=label, reason=mode)
            return True, await self._watch(link)
        finally:
            self._link_event = None
            self._cp_waiter = None
            for item in self.sequencer.flush():
                self._emit_sequenced(item, self._clock())
            await self._teardown(client, ecg_on and self._closing)

    async def _watch(self, link: asyncio.Event) -> str:
        """Wait for link loss, a stall (watchdog) or close; return the reason.

        The stall timer is due `watchdog_s` after the last data. The data path moves it
        on (`_on_data`, when it is due within WATCH_PUSH_S), so while data flows it never
        fires: a timer that woke up to find data had come woke the daemon every
        watchdog_s for nothing. When it fires it looks again at the last data (the heart
        rate feeds the watchdog without moving the timer) and waits on if there was any.
        """
        loop = asyncio.get_running_loop()
        watchdog = self.config.watchdog_s
        stall = asyncio.Event()

        def check() -> None:
            self._watch_timer = None
            if self._last_rx + watchdog - loop.time() <= 0:
                stall.set()
            else:
                self._arm_watch(loop, self._last_rx + watchdog)

        self._watch_check = check
        try:
            while not link.is_set():
                # Looked at again once this task runs: data that came in the meantime
                # (a burst after the host stalled) means the strap is not stalled.
                if self._last_rx + watchdog - loop.time() <= 0:
                    break
                stall.clear()
                self._arm_watch(loop, self._last_rx + watchdog)
                waiters = [loop.create_task(link.wait()), loop.create_task(stall.wait())]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            else:
                return self._link_reason or "strap disconnected"
        finally:
            if self._watch_timer is not None:
                self._watch_timer.cancel()
                self._watch_timer = None
            self._watch_check = None
        silence = loop.time() - self._last_rx
        self._emit(Stalled(self._clock(), round(silence, 3)))
        return f"no data for {silence:.1f} s while connected (stalled)"

    def _arm_watch(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """(Re)set the stall timer of `_watch` to loop time `when`."""
        if self._watch_timer is not None:
            self._watch_timer.cancel()
        self._watch_at = when
        if self._watch_check is not None:
            self._watch_timer = loop.call_at(when, self._watch_check)

    async def _teardown(self, client: BleakClient, stop_ecg: bool) -> None:
        """Best effort: STOP the stream (a stale stream survives on an H10) and disconnect."""
        timeout = self.config.cp_timeout_s
        if stop_ecg and client.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    client.write_gatt_char(pmd.PMD_CP_UUID, pmd.stop_request(), response=True),
                    timeout,
                )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout)

    # ------------------------------------------------------------------ streams

    async def _start_battery(self, client: BleakClient) -> None:
        char = client.services.get_characteristic(battery.BATTERY_LEVEL_UUID)
        if char is None:
            return
        if "read" in char.properties:
            data = bytes(await client.read_gatt_char(char))
            self._observe(battery.BATTERY_LEVEL_UUID, "read", data, self._clock())
            self._battery_value(data, self._clock())
        if "notify" in char.properties:
            await client.start_notify(char, self._on_battery)

    async def _start_ecg(self, client: BleakClient) -> bool:
        """Enable CP + data, then STOP (ignored) and START; True when ECG streams."""
        cp_char = client.services.get_characteristic(pmd.PMD_CP_UUID)
        if cp_char is None or client.services.get_characteristic(pmd.PMD_DATA_UUID) is None:
            return False
        if "read" in cp_char.properties:
            data = bytes(await client.read_gatt_char(cp_char))
            self._observe(pmd.PMD_CP_UUID, "read", data, self._clock())
            try:
                features = pmd.decode_features(data)
            except BleDecodeError:
                features = None
            if features is not None and pmd.MeasurementType.ECG not in features.features:
                return False
        await client.start_notify(pmd.PMD_CP_UUID, self._on_cp)
        await client.start_notify(pmd.PMD_DATA_UUID, self._on_data)
        await self._request(client, pmd.stop_request())
        response = await self._request(client, pmd.start_ecg_request())
        if response.status == pmd.Status.ALREADY_IN_STATE:
            await self._request(client, pmd.stop_request())
            response = await self._request(client, pmd.start_ecg_request())
        if not response.ok:
            raise ControlPointError(response.opcode, response.status, response.status_text)
        return True

    async def _request(self, client: BleakClient, payload: bytes) -> pmd.CpResponse:
        """Write a CP request and wait for its indication (waiter armed before the write)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[pmd.CpResponse] = loop.create_future()
        self._cp_waiter = (payload[0], future)
        self._cp_params = bytearray()
        self._observe(pmd.PMD_CP_UUID, "write", payload, self._clock())
        await client.write_gatt_char(pmd.PMD_CP_UUID, payload, response=True)
        try:
            return await asyncio.wait_for(future, self.config.cp_timeout_s)
        except TimeoutError:
            raise _AttemptFailed(
                f"no PMD response to op 0x{payload[0]:02x} within {self.config.cp_timeout_s:g} s"
            ) from None
        finally:
            self._cp_waiter = None

    # ------------------------------------------------------------------ callbacks

    def _observe(self, uuid: str, kind: str, data: bytes | bytearray, t_ns: int) -> None:
        if self._raw_observer is not None:
            self._raw_observer(uuid, kind, bytes(data), t_ns)

    def _malformed(self, uuid: str, exc: BleDecodeError, t_ns: int) -> None:
        self.malformed += 1
        self._emit(Malformed(t_ns, uuid, str(exc), self.malformed))

    def _on_cp(self, _: object, data: bytearray) -> None:
        t_ns = self._clock()
        self._observe(pmd.PMD_CP_UUID, "notify", data, t_ns)
        try:
            message = pmd.decode_cp(bytes(data))
        except BleDecodeError as exc:
            self._malformed(pmd.PMD_CP_UUID, exc, t_ns)
            return
        if isinstance(message, pmd.CpResponse):
            waiter = self._cp_waiter
            if waiter is None or waiter[0] != message.opcode or waiter[1].done():
                return
            self._cp_params += message.parameters
            if not message.more:
                waiter[1].set_result(
                    pmd.CpResponse(
                        message.opcode,
                        message.measurement,
                        message.status,
                        False,
                        bytes(self._cp_params),
                    )
                )
        elif (
            isinstance(message, pmd.MeasurementStopped)
            and pmd.MeasurementType.ECG in message.measurements
        ):
            self._emit(StreamStopped(t_ns))
            if self._link_event is not None:
                self._link_reason = "the strap stopped the ECG stream"
                self._link_event.set()
        # FeatureRead: BlueZ echoes CP reads as notifications; nothing to do.

    def _on_data(self, _: object, data: bytearray) -> None:
        loop = asyncio.get_running_loop()
        t_ns = self._clock()
        self._last_rx = now = loop.time()
        if self._watch_timer is not None and now > self._watch_at - WATCH_PUSH_S:
            self._arm_watch(loop, now + self.config.watchdog_s)
        self._observe(pmd.PMD_DATA_UUID, "notify", data, t_ns)
        try:
            frame = pmd.decode_ecg_frame(data)
        except BleDecodeError as exc:
            self._malformed(pmd.PMD_DATA_UUID, exc, t_ns)
            return
        cmap = self.clock_map
        sequencer = self.sequencer
        items = sequencer.push(frame, cmap.to_sensor(t_ns) if cmap.ready else None)
        if any(isinstance(item, Restarted) for item in items):
            cmap.reset()  # a new timeline on the strap's clock: map it afresh
        sensor_ns = sequencer.corrected_ns(frame.sensor_ns)
        if sensor_ns != sequencer.held_ns:  # a frame behind the timeline says nothing of latency
            self._observe_clock(sensor_ns, t_ns)
        for item in items:
            self._emit_sequenced(item, t_ns)

    def _observe_clock(self, sensor_ns: int, t_ns: int) -> None:
        """Feed the clock map with on-time frames; report late ones; follow clock jumps.

        Frames more than `late_threshold_s` late are reported and kept out of the map
        (its lower envelope is the fastest latency). After 8 in a row, or at once when
        30 s off, the map is reset onto the host's clock as it now is: the host's clock
        stepped (NTP, suspend) and would otherwise make every later frame look late and
        every later forward jump of the strap's clock look like a frame from the future.
        A stalled host (frames buffered by the strap, then delivered in a burst) trips
        the same rule; the host times of frames do not follow the map's reset, they
        follow the strap's timeline (`_emit_sequenced`), so neither case is a gap.
        """
        cmap = self.clock_map
        if not cmap.ready:
            cmap.observe(sensor_ns, t_ns)
            return
        latency_s = (t_ns - cmap.to_host(sensor_ns)) / 1e9
        if abs(latency_s) > 30.0:
            cmap.reset()  # the strap's clock was reset (power cycle) or the host's jumped
            cmap.observe(sensor_ns, t_ns)
            self._late_run = 0
            return
        if latency_s > self.config.late_threshold_s:
            self._emit(LateFrame(t_ns, round(latency_s, 3)))
            self._late_run += 1
            if self._late_run < 8:
                return
            cmap.reset()
        self._late_run = 0
        cmap.observe(sensor_ns, t_ns)

    def _emit_sequenced(self, item: SequencerOutput, t_ns: int) -> None:
        cmap = self.clock_map
        if isinstance(item, Placed):
            if self._anchor or self._end_ns is None:
                # a new timeline on the strap's clock: the clock map places its start
                t0 = cmap.to_host(item.first_sensor_ns)
                self._anchor = False
                if self._bridge_from_ns is not None:
                    # the strap's clock restarted: measure the loss on the host's clock
                    lost = t0 - self._bridge_from_ns
                    samples = round(lost * pmd.H10_ECG_FS / 1e9)
                    if samples > 0:
                        self._emit(Gap(self._bridge_from_ns, lost, samples))
                    self._bridge_from_ns = None
            else:
                # the sequencer says this frame follows the last one on the strap's
                # clock: so does its host time, however late it arrived (see
                # `_observe_clock`: a stalled host re-anchors the map, not the timeline)
                t0 = self._end_ns
            samples_uv = item.frame.samples_uv.astype(np.float64)
            self._end_ns = t0 + cmap.host_duration(len(samples_uv) * item.interval_ns)
            self._emit(EcgFrame(t0, float(pmd.H10_ECG_FS), samples_uv))
        elif isinstance(item, Missing):
            start = self._end_ns if self._end_ns is not None else cmap.to_host(item.start_sensor_ns)
            duration = cmap.host_duration(item.samples * item.interval_ns)
            self._end_ns = start + duration
            self._emit(Gap(start, duration, item.samples))
        elif isinstance(item, Repeated):
            self._emit(DuplicateFrame(t_ns, item.sensor_ns))
        elif isinstance(item, Restarted):
            self._bridge_from_ns = self._end_ns
            self._anchor = True
        elif isinstance(item, Jumped):
            self._emit(ClockJump(t_ns, round(item.jump_ns / 1e9, 6)))
        else:
            self._emit(OutOfOrderFrame(t_ns, item.sensor_ns, item.recovered))

    def _on_hr(self, _: object, data: bytearray) -> None:
        loop = asyncio.get_running_loop()
        t_ns = self._clock()
        self._observe(hrs.HR_MEASUREMENT_UUID, "notify", data, t_ns)
        try:
            m = hrs.decode_heart_rate(data)
        except BleDecodeError as exc:
            self._malformed(hrs.HR_MEASUREMENT_UUID, exc, t_ns)
            return
        if self._hr_feeds_watchdog:  # heart rate is the only stream: it feeds the watchdog
            self._last_rx = loop.time()
        self._emit(HeartRate(t_ns, m.bpm, m.rr_s, m.contact.value))

    def _on_battery(self, _: object, data: bytearray) -> None:
        t_ns = self._clock()
        self._observe(battery.BATTERY_LEVEL_UUID, "notify", data, t_ns)
        self._battery_value(bytes(data), t_ns)

    def _battery_value(self, data: bytes, t_ns: int) -> None:
        try:
            self._emit(BatteryLevel(t_ns, battery.decode_battery(data)))
        except BleDecodeError as exc:
            self._malformed(battery.BATTERY_LEVEL_UUID, exc, t_ns)


def _describe(exc: BaseException) -> str:
    """A short reason for a failed attempt."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return text
