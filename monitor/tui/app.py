"""The Textual terminal UI: a client of the daemon's local socket.

The live screen shows the scrolling ECG with each beat's class letter, heart rate,
rhythm, class counts, signal quality, and a header with connection, battery,
staleness and log state at all times. Alerts sit in a banner until someone
acknowledges them (the acknowledgement goes to the daemon, so every client sees it).
The screen redraws at most 10 times a second, and only what changed: the trace when
ECG or beats arrived (a strap frame every 0.56 s, so about twice a second; the eye
needs no more for a strip that moves one braille column per 0.05 s of ECG), the text
lines when their text differs. The header and vitals have fixed heights, so their
updates skip Textual's layout pass, which was most of the TUI's CPU while live.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Footer, Static

from monitor.daemon.client import DaemonClient
from monitor.daemon.protocol import ProtocolError
from monitor.errors import EcgmonError
from monitor.tui import trace as tr
from monitor.tui.state import LiveState

TUI_NOTICE = "Not a medical device: findings are non-diagnostic; show them to a clinician."
"""monitor.NON_DIAGNOSTIC_NOTICE, short enough for one line at 80 columns."""

HISTORY_NS = 24 * 3600 * 10**9
"""The history screen shows the last day of the log."""

FPS = 10.0
SILENT_AFTER_S = 3.0
"""No message from the daemon for this long (it sends status every second): say so."""

BEAT_STYLES = {
    "N": "bold green",
    "S": "bold dark_orange",
    "V": "bold red",
    "F": "bold magenta",
    "Q": "bold blue",
    "?": "bold",
}
SEVERITY_CLASS = {"critical": "critical", "warning": "warning", "info": "info"}
TRACE_MESSAGES = frozenset({"hello", "samples", "beats"})
"""Daemon messages that change what the trace draws."""


class EcgTrace(Widget):
    """The scrolling strip: braille ECG plus a row of beat letters under it."""

    DEFAULT_CSS = """
    EcgTrace { height: 1fr; min-height: 6; border: round $primary; padding: 0 1; }
    """

    def __init__(self, state: LiveState, window_s: float = 8.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self._window_s = 0.0
        self.window_s = window_s

    @property
    def window_s(self) -> float:
        """Seconds of ECG across the strip."""
        return self._window_s

    @window_s.setter
    def window_s(self, seconds: float) -> None:
        # (the title is set here, not in render: setting it asks for another render)
        if seconds != self._window_s:
            self._window_s = seconds
            self.border_title = f"ECG  {seconds:.0f} s"

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height - 1
        if width < 4 or height < 1:
            return Text("")
        state = self.state
        start, values = state.trace()
        fs = state.trace_fs
        if values.size == 0:
            msg = "waiting for ECG..." if state.connected else state.connect_error
            return Text(msg, style="italic")
        end = start + values.size
        span_samples = self.window_s * fs
        ratio = state.working_fs / fs
        beats = [(round(b.index / ratio), b.label) for b in state.beats]
        rows, marks = tr.render_strip(
            values, start, end - span_samples, span_samples, width, height, beats
        )
        return strip_text(rows, marks, width)


def strip_text(rows: list[str], marks: list[tuple[int, str]], width: int) -> Text:
    """The braille rows and, under them, the beat letters in their class colours."""
    out = Text("\n".join(rows), no_wrap=True, overflow="crop")
    line = [" "] * width
    for cell, label in marks:
        line[cell] = label
    marker = Text("".join(line), no_wrap=True)
    for cell, label in marks:
        marker.stylize(BEAT_STYLES.get(label, "bold"), cell, cell + 1)
    out.append("\n")
    out.append_text(marker)
    return out


class StatusHeader(Static):
    """Connection, battery, staleness and log state: always visible."""


class AlertBanner(Static):
    """The most urgent unacknowledged alert; `a` acknowledges it."""


class Vitals(Static):
    """Heart rate, rhythm, signal quality, beat counts and the non-diagnostic notice."""


class MonitorApp(App[None]):
    """`ecgmon tui`: the patient's live view of the daemon."""

    CSS_PATH = "app.tcss"
    TITLE = "ecgmon"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Acknowledge"),
        Binding("h", "history", "History"),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom in", key_display="+"),
        Binding("minus", "zoom(1)", "Zoom out", key_display="-"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        socket_path: Path | None,
        dark: bool = True,
        log_path: Path | None = None,
        identity_path: Path | None = None,
        identity: Any = None,
    ) -> None:
        """log_path/identity_path: the encrypted log and the patient identity file for the
        history screen (its passphrase is asked each time); identity: an already opened
        identity instead (the demo's temporary one)."""
        super().__init__()
        self.socket_path = socket_path
        self.log_path = log_path
        self.identity_path = identity_path
        self._identity = identity
        self.live = LiveState()
        self.theme = "textual-dark" if dark else "textual-light"
        self._client: DaemonClient | None = None
        self._dirty = True
        self._trace_dirty = True
        self._shown: dict[str, tuple[Text, Any]] = {}
        self._silent = False
        self._last_message = time.monotonic()
        self._changed = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="status")
        yield AlertBanner(id="banner")
        with Vertical(id="main"):
            yield EcgTrace(self.live, id="trace")
            yield Vitals(id="vitals")
        yield Footer()

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(1.0 / FPS, self._tick)
        if self.socket_path is not None:
            self.run_worker(self._connection_loop(), exclusive=True, group="socket")

    # -- the socket --------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        assert self.socket_path is not None
        while True:
            try:
                self._client = await DaemonClient.connect(self.socket_path)
            except OSError as exc:
                self._set_disconnected(f"no daemon at {self.socket_path} ({exc.strerror})")
                await asyncio.sleep(1.0)
                continue
            self.live.connected = True
            try:
                async for msg in self._client.messages():
                    self.feed(msg)
            except (ProtocolError, ConnectionError, OSError) as exc:
                self._set_disconnected(f"lost the daemon ({exc})")
            else:
                self._set_disconnected("the daemon closed the connection")
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
            await asyncio.sleep(1.0)

    def _set_disconnected(self, why: str) -> None:
        self.live.connected = False
        self.live.connect_error = why
        self._trace_dirty = True  # (an empty trace says why)
        self._mark()

    def feed(self, msg: dict[str, Any]) -> None:
        """Apply one daemon message (the socket worker calls this; tests may too)."""
        self.live.apply(msg)
        self._last_message = time.monotonic()
        if msg.get("type") in TRACE_MESSAGES:
            self._trace_dirty = True
        self._mark()

    def _mark(self) -> None:
        self._dirty = True
        self._changed.set()

    async def wait_for(self, predicate: Callable[[LiveState], bool], timeout: float = 30.0) -> None:
        """Wait until the state satisfies `predicate` (for tests and scripted use)."""

        async def wait() -> None:
            while not predicate(self.live):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    # -- drawing -------------------------------------------------------------------------

    def _tick(self) -> None:
        silent = self._is_silent()
        if silent != self._silent:  # the daemon fell silent (or spoke again): say so
            self._silent = silent
            self._dirty = True
        if self._dirty:
            self._redraw()

    def _is_silent(self) -> bool:
        return time.monotonic() - self._last_message > SILENT_AFTER_S

    def _redraw(self) -> None:
        self._dirty = False
        self._show(self.query_one(StatusHeader), self._header_text(), layout=False)
        banner = self.query_one(AlertBanner)
        pending = self.live.pending_alerts()
        if banner.display != bool(pending):
            banner.display = bool(pending)
        if pending:
            top = pending[0]
            for cls in SEVERITY_CLASS.values():
                banner.set_class(cls == top.get("severity"), cls)
            self._show(banner, self._banner_text(top, len(pending) - 1), layout=True)
        self._show(self.query_one(Vitals), self._vitals_text(), layout=False)
        if self._trace_dirty:
            self._trace_dirty = False
            self.query_one(EcgTrace).refresh()

    def _show(self, widget: Static, text: Text, layout: bool) -> None:
        """Update `widget` only if `text` differs from what it shows. layout=False for
        widgets of fixed size (CSS height), so Textual skips its layout pass."""
        key = widget.id or str(id(widget))
        last = self._shown.get(key)
        if last is not None and last[0] == text and last[1] == text.style:
            return
        self._shown[key] = (text, text.style)
        widget.update(text, layout=layout)

    def _header_text(self) -> Text:
        live, status = self.live, self.live.status
        text = Text()
        if not live.connected:
            text.append(" ● daemon: not connected ", style="bold reverse red")
            text.append(f" {live.connect_error}")
            return text
        state = status.get("connection", "?")
        ok = state == "connected" and not status.get("stale")
        text.append(f" ● {state} ", style="bold reverse green" if ok else "bold reverse red")
        battery = status.get("battery_pct")
        text.append(f"  battery {'--' if battery is None else f'{battery}%'}")
        age = status.get("last_sample_age_s")
        if self._is_silent():
            text.append("  daemon silent", style="bold red")
        elif age is None:
            text.append("  no ECG yet", style="bold red")
        else:
            style = "bold red" if status.get("stale") else ""
            text.append(f"  last sample {age:.1f} s ago", style=style)
        storage = status.get("storage") or {}
        sstate = storage.get("state", "?")
        text.append(f"  log: {sstate}", style="" if sstate == "writing" else "bold dark_orange")
        return text

    def _banner_text(self, alert: dict[str, Any], more: int) -> Text:
        sev = str(alert.get("severity", "warning")).upper()
        text = Text(f" {sev}: {alert.get('message', '')}", style="bold")
        if not alert.get("active"):
            text.append(" (resolved)")
        text.append(f"   [a] acknowledge{f'  (+{more} more)' if more else ''}")
        return text

    def _vitals_text(self) -> Text:
        status = self.live.status
        text = Text()
        hr = status.get("heart_rate_bpm")
        text.append(" HR ", style="bold")
        text.append(f"{hr:.0f} bpm" if hr is not None else "-- bpm", style="bold")
        rhythm = status.get("rhythm")
        stages = status.get("stages") or {}
        text.append("   rhythm ", style="bold")
        if rhythm:
            text.append(str(rhythm))
        else:
            why = "no rhythm stage" if stages.get("rhythm") == "none" else "not analysed"
            text.append(f"-- ({why})", style="italic")
        text.append("   signal ", style="bold")
        quality = status.get("quality")
        if quality is None:
            text.append("not assessed" if stages.get("quality") == "none" else "--", style="italic")
        else:
            level = float(quality.get("level", 0.0))
            bars = round(level * 8)
            style = "red" if quality.get("noisy") or quality.get("leads_off") else "green"
            text.append("█" * bars + "░" * (8 - bars), style=style)
            text.append(f" {level:.0%}")
        text.append("\n beats ", style="bold")
        counts = status.get("counts") or {}
        for label in ("N", "S", "V", "F", "Q", "?"):
            if label == "?" and not counts.get("?"):
                continue
            text.append(label, style=BEAT_STYLES[label])
            text.append(f" {counts.get(label, 0)}  ")
        if stages.get("classifier") == "none":
            text.append("(? = not classified: no classifier)", style="italic")
        text.append(f"\n {TUI_NOTICE}", style="dim")
        return text

    # -- actions -------------------------------------------------------------------------

    async def action_acknowledge(self) -> None:
        pending = self.live.pending_alerts()
        if not pending:
            self.notify("no alert to acknowledge", timeout=2)
            return
        if self._client is None:
            self.notify("not connected to the daemon: cannot acknowledge", severity="error")
            return
        await self._client.acknowledge(int(pending[0]["id"]))

    def action_history(self) -> None:
        """Episodes and alerts of the last day from the encrypted log."""
        if self.screen is not self.screen_stack[0]:
            return  # already in the history (or a prompt)
        if self.log_path is None or not self.log_path.exists():
            self.notify("no encrypted log to show yet", severity="warning")
            return
        if self._identity is not None:
            self._open_history(self._identity)
            return
        if self.identity_path is None:
            self.notify("no identity file configured: cannot open the log", severity="error")
            return
        from monitor.tui.review import PassphraseScreen

        def opened(passphrase: str | None) -> None:
            if passphrase:
                self.run_worker(self._unlock(passphrase), group="history")

        self.push_screen(PassphraseScreen(f"Passphrase of {self.identity_path}"), opened)

    async def _unlock(self, passphrase: str) -> None:
        try:
            from monitor.store.keys import load_identity_file

            assert self.identity_path is not None
            identity = await asyncio.to_thread(load_identity_file, self.identity_path, passphrase)
        except ImportError:
            self.notify("history needs the encrypted log (monitor.store)", severity="error")
            return
        except EcgmonError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        finally:
            del passphrase  # used once to open the identity; never kept
        self._open_history(identity)

    def _open_history(self, identity: Any) -> None:
        self.run_worker(self._load_history(identity), group="history")

    async def _load_history(self, identity: Any) -> None:
        from monitor.tui.logview import load_log_view
        from monitor.tui.review import ReviewScreen

        assert self.log_path is not None
        since = time.time_ns() - HISTORY_NS
        try:
            view = await asyncio.to_thread(load_log_view, self.log_path, identity, since)
        except EcgmonError as exc:
            self.notify(f"cannot read the log: {exc}", severity="error", timeout=8)
            return
        self.push_screen(ReviewScreen(view, f"history: last 24 h of {self.log_path.name}"))

    def action_zoom(self, step: int) -> None:
        trace = self.query_one(EcgTrace)
        trace.window_s = float(min(10, max(5, trace.window_s + step)))
        trace.refresh()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
