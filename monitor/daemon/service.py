"""The daemon: source -> pipeline -> log, plus the status server on a local socket.

One asyncio process. The pipeline itself is synchronous and runs on each frame as
it arrives; everything else (the source, clients, timers) is asyncio. Clients get
newline-delimited JSON (monitor.daemon.protocol) through a Unix domain socket that
only the owning user can open (mode 0600 in a 0700 folder, and the peer's uid is
checked with SO_PEERCRED). Each client has a bounded queue: a client that cannot
keep up is dropped, never waited for.

Never silent: a disconnected source, stale data, a noisy signal and storage
errors each raise an alert (monitor.daemon.alerts) and show in every status message.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from monitor import __version__
from monitor.classify.beat import ClassifiedBeat
from monitor.daemon import protocol
from monitor.daemon.alerts import Alert, AlertBook
from monitor.daemon.config import DaemonConfig
from monitor.daemon.sources import (
    BatteryEvent,
    ClockJumpEvent,
    ConnectionEvent,
    FrameEvent,
    GapEvent,
    Source,
)
from monitor.errors import EcgmonError
from monitor.frame import EcgFrame
from monitor.pipeline import Pipeline, PipelineOutput

log = logging.getLogger("ecgmon.daemon")

LIVE_HISTORY_S = 10.0
"""Trace and beats kept for a client that connects (fills its screen at once), and the
most a single live message carries when the stream runs faster than real time."""

GAP_MIN_S = 1.0
"""A frame that starts this much later than the previous one ended (host clock) means
samples are missing even if the source did not report it: the pipeline is told of a gap.
(Frame times come from the strap's clock mapped onto the host's, so ordinary jitter is
milliseconds; a replay faster than real time makes frames come earlier, never later.)"""

RECANCEL_S = 1.5
"""A task asked to stop that is still running after this long is asked again (its
first cancellation may have been swallowed); long enough for a clean strap teardown."""

SHUTDOWN_STEP_S = 5.0
"""Bound on each step of a shutdown that waits on something outside the daemon (the
source closing the strap link, a client's socket): a stop never hangs."""

STATUS_SLACK = 0.3
"""A status message goes out with the frame handled within this share of the status
interval of the moment it is due (either side), or by a timer at the end of that window."""

CLIENT_BUFFER = 64 * 1024
"""Bytes a client may have in flight (transport buffer, and kernel send buffer)."""

_PEERCRED = struct.Struct("3i")


class LogSink(Protocol):
    """The encrypted log as the daemon uses it (monitor.store provides the real one)."""

    def write_frame(self, frame: EcgFrame) -> None: ...

    def write_beats(self, beats: list[ClassifiedBeat]) -> None: ...

    def write_event(
        self, category: str, kind: str, t_ns: int, end_ns: int | None, data: dict[str, Any]
    ) -> None:
        """category: "episode", "alert" or "device" (the store's event categories)."""
        ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class DaemonError(EcgmonError):
    """The daemon cannot start (socket in use, unsafe folder, ...)."""


@dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    queue: asyncio.Queue[bytes]
    uid: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False


@dataclass
class DaemonStats:
    """Counters the tests and the benchmark read."""

    frames: int = 0
    clients_served: int = 0
    clients_refused: int = 0
    clients_dropped: int = 0
    messages_sent: int = 0


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        source: Source,
        pipeline: Pipeline,
        sink: LogSink | None = None,
        sink_problem: str = "no encrypted log configured",
        allowed_uid: int | None = None,
        stage_problems: list[str] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.pipeline = pipeline
        self.sink = sink
        self.storage_state = "writing" if sink is not None else "off"
        self.storage_detail = sink.describe() if sink is not None else sink_problem
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self.stage_problems = list(stage_problems or [])
        self.alerts = AlertBook()
        self.stats = DaemonStats()
        self.connection = "starting"
        self.connection_detail = ""
        self.battery_pct: int | None = None
        self.stream_t0_ns: int | None = None
        self.ready = asyncio.Event()
        self.stopped = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._clients: set[_Client] = set()
        self._last_frame_mono: float | None = None
        self._decimator = protocol.Decimator()
        self._trace: deque[tuple[int, np.ndarray]] = deque()
        self._trace_len = 0
        self._recent_beats: deque[dict[str, Any]] = deque()
        self._pending_samples: list[tuple[int, np.ndarray]] = []
        self._pending_beats: list[dict[str, Any]] = []
        self._server: asyncio.AbstractServer | None = None
        self._alert_of_episode: dict[str, str] = {}
        self._live_sent_at = float("-inf")  # loop time of the last live message
        # Live messages are paced only when a replay runs faster than real time; a strap
        # (or a real-time replay) publishes every notification the moment it is processed.
        fast = config.replay is not None and config.speed > 1
        self._live_interval = config.live_interval_s if fast else 0.0
        self._publish_handle: asyncio.Handle | None = None
        self._resync = False
        self._expected_t0_ns: int | None = None  # host time the next frame should start
        self._status_handle: asyncio.TimerHandle | None = None  # see `_arm_status`
        self._status_due = 0.0  # loop time the next status message is due
        self._status_slack = 0.0

    def attach_sink(self, sink: LogSink | None, problem: str = "") -> None:
        """Use `sink` as the log; with None, say why nothing is written (a warning alert)."""
        self.sink = sink
        if sink is not None:
            self.storage_state, self.storage_detail = "writing", sink.describe()
        else:
            self.storage_state, self.storage_detail = "off", problem or "no log"
            if problem:
                self._raise("storage", f"not recording: {problem}", "warning")

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the daemon to shut down cleanly (safe from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Serve until `stop()`; then close the log segment, the clients and the socket."""
        await self._start_server()
        tasks = [
            asyncio.create_task(self._consume_source(), name="source"),
            asyncio.create_task(self._watch_staleness(), name="watchdog"),
        ]
        loop = asyncio.get_running_loop()
        self._status_due = loop.time()
        self._arm_status(loop)
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            self._stopping = True
            if self._status_handle is not None:
                self._status_handle.cancel()
                self._status_handle = None
            await _cancel_within(tasks, SHUTDOWN_STEP_S)
            await self._shutdown()

    async def _shutdown(self) -> None:
        """Close the log segment, say bye, close every client and the socket: each wait
        is bounded, so a stop always ends (a client that never reads cannot hold it)."""
        try:
            if self.pipeline.summary.samples:
                self._handle_output(self.pipeline.flush())
        except Exception:  # a broken tail must not keep the log from closing
            log.exception("pipeline flush failed")
        self._publish()
        if self.sink is not None:
            try:
                self.sink.close()
                self.storage_state = "closed"
            except (OSError, EcgmonError) as exc:
                self._storage_failed(exc)
        self._broadcast(protocol.encode("bye", reason="daemon stopping"))
        if self._server is not None:
            self._server.close()
        closing = [asyncio.create_task(self._farewell(c)) for c in list(self._clients)]
        await _cancel_within(closing, SHUTDOWN_STEP_S, cancel_first=False)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        with contextlib.suppress(FileNotFoundError):
            self.config.socket.unlink()
        self.stopped.set()

    # -- the socket ----------------------------------------------------------------------

    async def _start_server(self) -> None:
        path = self.config.socket
        prepare_socket_dir(path.parent)
        if path.exists() or path.is_symlink():
            if await _socket_answers(path):
                raise DaemonError(f"another ecgmon daemon is already serving {path}")
            path.unlink()
        old = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            self._server = await asyncio.start_unix_server(
                self._on_client, path=str(path), limit=protocol.MAX_LINE_BYTES
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self._accept(reader, writer)
        except Exception:  # a client that vanished while being set up: forget it, quietly
            log.debug("a client left while connecting", exc_info=True)
            writer.transport.abort()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = peer_uid(writer.get_extra_info("socket"))
        if uid is None and not hasattr(socket, "SO_PEERCRED"):
            uid = self.allowed_uid  # no SO_PEERCRED here: the 0600 socket is the guard
        if uid != self.allowed_uid:
            self.stats.clients_refused += 1
            log.warning("refused a client of uid %s", uid)
            writer.write(protocol.encode("error", message="refused: not the owner's uid"))
            writer.close()  # sends the error, then closes (a few bytes: never held up)
            return
        # Bounded buffering per client: the queue, then at most CLIENT_BUFFER bytes in the
        # transport and as much in the kernel; beyond that the client is too slow.
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_BUFFER)
        writer.transport.set_write_buffer_limits(high=CLIENT_BUFFER)
        client = _Client(writer, asyncio.Queue(self.config.client_queue), uid)
        self.stats.clients_served += 1
        self._clients.add(client)
        for line in self._welcome():
            self._send(client, line)
        client.tasks = [
            asyncio.create_task(self._write_loop(client), name="client-writer"),
            asyncio.create_task(self._read_loop(client, reader), name="client-reader"),
        ]

    def _welcome(self) -> list[bytes]:
        fs = self.pipeline.fs / self._decimator.factor
        lines = [
            protocol.encode(
                "hello",
                server="ecgmon",
                version=__version__,
                trace_fs=fs,
                working_fs=self.pipeline.fs,
                source=self.source.describe(),
            ),
            self._status_line(),
        ]
        for start, values in self._trace:
            lines.append(self._samples_line(start, values))
        if self._recent_beats:
            lines.append(
                protocol.encode("beats", t0_ns=self.stream_t0_ns, beats=list(self._recent_beats))
            )
        lines.extend(protocol.encode("alert", **a.to_wire()) for a in self.alerts.pending())
        return lines

    async def _write_loop(self, client: _Client) -> None:
        writer = client.writer
        try:
            while True:
                lines = [await client.queue.get()]
                while not client.queue.empty():
                    lines.append(client.queue.get_nowait())
                if writer.transport.is_closing():
                    break  # the peer left: writing on would only log asyncio warnings
                writer.write(b"".join(lines))  # one send for a burst
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        self._drop(client)

    async def _read_loop(self, client: _Client, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                self._on_request(client, line)
        except (ConnectionError, OSError, ValueError, asyncio.LimitOverrunError):
            pass
        if not self._stopping:  # at shutdown the farewell closes the client
            self._drop(client)

    def _on_request(self, client: _Client, line: bytes) -> None:
        try:
            msg = protocol.decode(line)
        except protocol.ProtocolError as exc:
            self._send(client, protocol.encode("error", message=str(exc)))
            return
        kind = msg["type"]
        if kind == "ack":
            alert_id = msg.get("id")
            if not isinstance(alert_id, int) or isinstance(alert_id, bool):
                self._send(client, protocol.encode("error", message="ack needs an integer id"))
                return
            alert = self.alerts.acknowledge(alert_id)
            if alert is not None:
                self._broadcast_alert(alert)
        elif kind == "ping":
            self._send(client, protocol.encode("pong"))
        elif kind == "status":
            self._send(client, self._status_line())
        else:
            self._send(client, protocol.encode("error", message=f"unknown request {kind!r}"))

    def _send(self, client: _Client, line: bytes) -> None:
        if client.closed:
            return
        try:
            client.queue.put_nowait(line)
            self.stats.messages_sent += 1
        except asyncio.QueueFull:
            self.stats.clients_dropped += 1
            log.warning("dropped a client that did not keep up")
            self._drop(client)

    def _broadcast(self, line: bytes) -> None:
        for client in list(self._clients):
            self._send(client, line)

    def _drop(self, client: _Client) -> None:
        """Forget a client now: stop its tasks, discard what it has not read, close its
        socket. Synchronous, so a departed client leaves no task or transport behind."""
        client.closed = True
        self._clients.discard(client)
        current = asyncio.current_task()
        for task in client.tasks:
            if task is not current:
                task.cancel()
        client.writer.transport.abort()

    async def _farewell(self, client: _Client) -> None:
        """At shutdown: hand the client what is queued (bye included), within a bound."""
        client.closed = True
        for task in client.tasks:
            task.cancel()
        writer = client.writer
        try:
            if not writer.transport.is_closing():
                lines = []
                while not client.queue.empty():
                    lines.append(client.queue.get_nowait())
                writer.write(b"".join(lines))
                writer.close()  # sends what is buffered, then closes
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (ConnectionError, OSError, TimeoutError):
            pass
        finally:
            self._drop(client)  # a client that never read is cut off here

    # -- the data path -------------------------------------------------------------------

    async def _consume_source(self) -> None:
        try:
            async for event in self.source.events():
                if isinstance(event, FrameEvent):
                    self._on_frame(event.frame)
                elif isinstance(event, ConnectionEvent):
                    self._on_connection(event)
                elif isinstance(event, BatteryEvent):
                    self.battery_pct = event.percent
                elif isinstance(event, ClockJumpEvent):
                    self._raise(
                        "clock_jump",
                        f"the strap's clock jumped {event.jump_s:+.1f} s; no sample was lost",
                        "info",
                    )
                elif isinstance(event, GapEvent):
                    self._raise(
                        "gap", f"{event.missing_s:.1f} s of ECG lost: {event.detail}", "warning"
                    )
                    stream_s = event.stream_s if event.stream_s is not None else event.missing_s
                    self._on_gap(stream_s)
        except EcgmonError as exc:
            self._on_connection(ConnectionEvent("disconnected", str(exc)))
        except Exception as exc:  # never die silently: say it, and keep serving status
            log.exception("the data path failed")
            self._on_connection(ConnectionEvent("disconnected", f"internal error: {exc!r}"))

    def _on_connection(self, event: ConnectionEvent) -> None:
        self.connection = event.state
        self.connection_detail = event.detail
        if event.state == "connected":
            self._resync = True  # after a (re)connection, host time says where we are
            self._clear("disconnected")
        elif event.state == "disconnected":
            self._raise("disconnected", f"strap disconnected: {event.detail}", "critical")
        elif event.state == "ended":
            self._raise("source_ended", f"the recording has ended ({event.detail})", "info")
        self._broadcast(self._status_line())

    def _on_gap(self, stream_s: float) -> None:
        """Samples are missing (reported by the source, or seen in the timestamps): the
        pipeline decides what came before and starts afresh after the gap, the rhythm
        layer is told, and the next frame re-anchors stream time on the host clock."""
        self._expected_t0_ns = None
        if not self.pipeline.summary.samples:
            return  # nothing before the gap: nothing to decide or to keep apart
        self._handle_output(self.pipeline.gap(stream_s))
        self._decimator.restart(self.pipeline.summary.samples // self._decimator.factor)
        self._resync = True

    def _on_frame(self, frame: EcgFrame) -> None:
        self.stats.frames += 1
        self._last_frame_mono = time.monotonic()
        expected = self._expected_t0_ns
        if expected is not None and frame.t0_ns - expected > GAP_MIN_S * 1e9:
            missing = (frame.t0_ns - expected) / 1e9
            self._raise("gap", f"{missing:.1f} s of ECG missing between two frames", "warning")
            self._on_gap(missing)
        self._expected_t0_ns = frame.t0_ns + round(len(frame.samples_uv) * 1e9 / frame.fs)
        if self.stream_t0_ns is None or self._resync:
            # Host time of stream time 0: stream time counts the samples and the gaps
            # (as the rhythm layer rounds them), so after a gap the origin is set again
            # from this frame and beat times stay true.
            self.stream_t0_ns = frame.t0_ns - round(self.pipeline.stream_time_s * 1e9)
            self._resync = False
        if self.alerts.is_active("stale"):
            self._clear("stale")
        out = self.pipeline.process(frame)
        self._to_log("write_frame", frame)
        self._handle_output(out)
        if self._status_handle is not None:
            loop = asyncio.get_running_loop()
            if loop.time() >= self._status_due - self._status_slack:
                self._status_tick(loop)

    def _handle_output(self, out: PipelineOutput) -> None:
        """Send what a frame produced to clients at once (see `_publish_soon`), and log it."""
        start, values = self._decimator.process(out.trace_uv)
        if values.size:
            self._pending_samples.append((start, values))
            self._remember_trace(start, values)
        if out.beats:
            wire = [protocol.beat_to_wire(b) for b in out.beats]
            self._pending_beats.extend(wire)
            self._recent_beats.extend(wire)
            horizon = out.beats[-1].time_s - LIVE_HISTORY_S
            while self._recent_beats and self._recent_beats[0]["t"] < horizon:
                self._recent_beats.popleft()
            self._to_log("write_beats", out.beats)
        if values.size or out.beats:
            self._publish_soon()
        for episode in out.episodes:
            self._on_episode(episode)
        for alert in out.alerts:
            self._on_rhythm_alert(alert)
        if out.quality:
            self._on_quality()

    def _on_quality(self) -> None:
        quality = self.pipeline.summary.quality
        if quality is None:
            return
        if quality.leads_off:
            self._raise("leads_off", f"no ECG: {quality.detail}", "critical")
        elif self.alerts.is_active("leads_off"):
            self._clear("leads_off")
        if quality.noisy and not quality.leads_off:
            self._raise(
                "noise",
                f"unreadable signal ({quality.detail}): beats and rhythm are not analysed there",
                "warning",
            )
        elif not quality.noisy and self.alerts.is_active("noise"):
            self._clear("noise")

    def _stream_ns(self, stream_s: float | None) -> int | None:
        if stream_s is None:
            return None
        return (self.stream_t0_ns or 0) + round(stream_s * 1e9)

    def _on_episode(self, episode: Any) -> None:
        data = {
            "id": episode.id,
            "kind": episode.kind,
            "start_s": round(episode.start_s, 3),
            "end_s": round(episode.end_s, 3),
            "final": bool(getattr(episode, "final", True)),
            "confidence": round(float(getattr(episode, "confidence", 1.0)), 3),
            "reason": getattr(episode, "reason", None),
        }
        self._broadcast(protocol.encode("episode", **data))
        self._log_event("episode", episode.kind, episode.start_s, episode.end_s, data)
        if data["final"]:
            kind = self._alert_of_episode.pop(episode.id, None)
            if kind is not None:
                self._clear(kind)

    def _on_rhythm_alert(self, alert: Any) -> None:
        kind = f"rhythm:{alert.kind}"
        self._log_event(
            "alert",
            alert.kind,
            getattr(alert, "raised_s", None),
            None,
            {"severity": alert.severity, "message": alert.message, "episode_id": alert.episode_id},
        )
        if self.alerts.is_active(kind):
            self._clear(kind)  # an escalation replaces the previous alert of the kind
        self._raise(kind, alert.message, alert.severity)
        self._alert_of_episode[alert.episode_id] = kind

    def _log_event(
        self,
        category: str,
        kind: str,
        start_s: float | None,
        end_s: float | None,
        data: dict[str, Any],
    ) -> None:
        if start_s is not None:
            self._to_log(
                "write_event",
                category,
                kind,
                self._stream_ns(start_s) or 0,
                self._stream_ns(end_s),
                data,
            )

    def _to_log(self, method: str, *args: Any) -> None:
        """One call on the log sink; a failure becomes the storage alert, never a crash."""
        sink = self.sink
        if sink is None:
            return
        try:
            getattr(sink, method)(*args)
        except (OSError, EcgmonError) as exc:
            self._storage_failed(exc)
            return
        state = getattr(sink, "state", None)
        if state is None:
            return
        now, detail = state()
        if now == "full" and self.storage_state != "full":
            self.storage_state, self.storage_detail = now, detail
            self._raise("storage", f"disk full: {detail}", "critical")
        elif now == "writing" and self.storage_state == "full":
            self.storage_state, self.storage_detail = now, detail
            self._clear("storage")

    def _remember_trace(self, start: int, values: np.ndarray) -> None:
        self._trace.append((start, values))
        self._trace_len += values.size
        keep = LIVE_HISTORY_S * self.pipeline.fs / self._decimator.factor
        while self._trace and self._trace_len - self._trace[0][1].size >= keep:
            self._trace_len -= self._trace.popleft()[1].size

    def _storage_failed(self, exc: Exception) -> None:
        full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
        full = full or type(exc).__name__ == "StorageFullError"
        why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        self.storage_state = "full" if full else "error"
        self.storage_detail = f"{why}; recording stopped, live view continues"
        what = "disk full" if full else "storage error"
        if self.alerts.is_active("storage"):
            self._clear("storage")
        self._raise("storage", f"{what}: the log is no longer written ({why})", "critical")
        sink, self.sink = self.sink, None
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.close()

    # -- periodic work -------------------------------------------------------------------

    # Status messages ride on the frames. A status is due every status_interval_s (on a
    # fixed cadence); the frame handled nearest to that moment, within STATUS_SLACK of
    # the interval either side, sends it in the same turn of the event loop, and a
    # timer sends it only when no frame came in that window (a stall, a disconnect).
    # Why: a timer of its own woke the daemon once more every second, and each such
    # wake-up from sleep cost more CPU than building and sending the status itself.

    def _arm_status(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set the next status moment and the timer that covers it when no frame does."""
        interval = self.config.status_interval_s
        self._status_slack = interval * STATUS_SLACK
        now = loop.time()
        due = self._status_due + interval
        if due < now:  # the loop was held up past a whole interval: restart the cadence
            due = now + interval
        self._status_due = due
        if self._status_handle is not None:
            self._status_handle.cancel()
        self._status_handle = loop.call_at(due + self._status_slack, self._status_timer)

    def _status_timer(self) -> None:
        self._status_handle = None
        self._status_tick(asyncio.get_running_loop())

    def _status_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._send_status()
        except Exception:  # a bug here must not silence the status for good
            log.exception("sending the status failed")
        if not self._stopping:
            self._arm_status(loop)

    def _publish_soon(self) -> None:
        """Send the pending live samples and beats in this turn of the event loop.

        Everything a burst of frames produced in the same turn goes out as one message
        of each type. The only wait is `live_interval_s` between two messages of a
        replay faster than real time, which keeps it from flooding clients.
        """
        if self._publish_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven synchronously (a test, a tool): send at once
            self._publish()
            return
        due = self._live_sent_at + self._live_interval
        if due <= loop.time():
            self._publish_handle = loop.call_soon(self._publish)
        else:
            self._publish_handle = loop.call_at(due, self._publish)

    def _publish(self) -> None:
        if self._publish_handle is not None:
            self._publish_handle.cancel()  # called directly (shutdown): no second call
            self._publish_handle = None
        if not self._pending_samples and not self._pending_beats:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: a synchronous caller
            self._live_sent_at = asyncio.get_running_loop().time()
        self._send_samples()
        self._send_beats()

    def _send_samples(self) -> None:
        if self._pending_samples:
            start = self._pending_samples[0][0]
            values = np.concatenate([v for _, v in self._pending_samples])
            self._pending_samples.clear()
            keep = int(LIVE_HISTORY_S * self.pipeline.fs / self._decimator.factor)
            if values.size > keep:  # faster than real time: only the last screenful matters
                start += values.size - keep
                values = values[-keep:]
            if self._clients:
                self._broadcast(self._samples_line(start, values))

    def _send_beats(self) -> None:
        if not self._pending_beats:
            return
        beats = self._pending_beats
        self._pending_beats = []
        horizon = beats[-1]["t"] - LIVE_HISTORY_S
        beats = [b for b in beats if b["t"] >= horizon]
        if self._clients:
            self._broadcast(protocol.encode("beats", t0_ns=self.stream_t0_ns, beats=beats))

    async def _watch_staleness(self) -> None:
        """Raise the stale-data alert when no sample came for stale_after_s.

        Sleeps until the moment the data would become stale (not a fixed tick), so a
        healthy stream costs one wake-up per stale_after_s.
        """
        limit = self.config.stale_after_s
        while True:
            age = self.last_sample_age_s()
            if age is not None and age > limit:
                self._raise("stale", f"no ECG for {age:.1f} s", "critical")
                wait = limit
            else:
                wait = limit - (age or 0.0) + 0.05
            await asyncio.sleep(wait)

    def last_sample_age_s(self) -> float | None:
        if self._last_frame_mono is None:
            return None
        return time.monotonic() - self._last_frame_mono

    def _send_status(self) -> None:
        if self._clients:  # nobody listening: nothing to compute
            self._broadcast(self._status_line())

    def status(self) -> dict[str, Any]:
        summary = self.pipeline.summary
        quality = summary.quality
        age = self.last_sample_age_s()
        return {
            "connection": self.connection,
            "connection_detail": self.connection_detail,
            "battery_pct": self.battery_pct,
            "quality": None
            if quality is None
            else {
                "level": round(quality.level, 3),
                "noisy": quality.noisy,
                "leads_off": quality.leads_off,
                "detail": quality.detail,
            },
            "heart_rate_bpm": None
            if summary.heart_rate_bpm is None
            else round(summary.heart_rate_bpm, 1),
            "rhythm": summary.rhythm,
            "counts": dict(summary.counts),
            "storage": {"state": self.storage_state, "detail": self.storage_detail},
            "last_sample_age_s": None if age is None else round(age, 2),
            "stale": self.alerts.is_active("stale"),
            "stream_s": round(summary.stream_s, 2),
            "stages": dict(summary.stages),
            "stage_problems": list(self.stage_problems),
            "source": self.source.describe(),
            "alerts_pending": len(self.alerts.pending()),
            "clients": len(self._clients),
        }

    def _status_line(self) -> bytes:
        return protocol.encode("status", **self.status())

    def _samples_line(self, start: int, values: np.ndarray) -> bytes:
        fs = self.pipeline.fs / self._decimator.factor
        return protocol.encode("samples", start=start, fs=fs, uv=np.round(values, 1).tolist())

    def _raise(self, kind: str, message: str, severity: str) -> None:
        alert = self.alerts.raise_(kind, message, severity)
        if alert is not None:
            log.warning("alert %s: %s", kind, message)
            self._broadcast_alert(alert)

    def _clear(self, kind: str) -> None:
        alert = self.alerts.clear(kind)
        if alert is not None:
            self._broadcast_alert(alert)

    def _broadcast_alert(self, alert: Alert) -> None:
        self._broadcast(protocol.encode("alert", **alert.to_wire()))


async def _cancel_within(
    tasks: list[asyncio.Task[Any]], timeout: float, cancel_first: bool = True
) -> None:
    """Cancel `tasks` (or let them finish, with cancel_first False) and wait for them at
    most `timeout` s, then move on: shutdown is never held up by a source that does not
    let go (a BLE stack that never answers a disconnect).

    A cancellation can be swallowed on the way down (a `suppress(CancelledError)` around
    an await in a library), so what is still running after RECANCEL_S is cancelled
    again, every RECANCEL_S, until the bound; what then remains is abandoned (and
    cancelled once more when the event loop closes).
    """
    if not tasks:
        return
    if cancel_first:
        for task in tasks:
            task.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = set(tasks)
    while pending:
        left = deadline - loop.time()
        if left <= 0:
            break
        _done, pending = await asyncio.wait(pending, timeout=min(left, RECANCEL_S))
        for task in pending:
            task.cancel()
    for task in pending:
        log.warning("task %s did not stop within %.0f s; abandoned", task.get_name(), timeout)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("task %s failed while stopping: %r", task.get_name(), task.exception())


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED), or None."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    except OSError:
        return None
    _pid, uid, _gid = _PEERCRED.unpack(raw)
    return uid


def prepare_socket_dir(folder: Path) -> None:
    """Create the socket's folder 0700, or refuse one that someone else could write into."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise DaemonError(f"{folder} belongs to another user; refusing to put the socket there")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.chmod(folder, 0o700)


async def _socket_answers(path: Path) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True
