"""History and review screens: episodes and alerts from the encrypted log, with the ECG
strip around each, beat statistics, and an export action.

`ReviewScreen` is shared: the patient's TUI pushes it as its history screen (after
asking for the passphrase of the patient identity), and `ecgmon review` runs it as
the clinician's whole app. It shows what the log holds and nothing more: every
finding on the time line can be traced to the raw ECG drawn under it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Label, Static

from monitor.tui import trace as tr
from monitor.tui.app import BEAT_STYLES, TUI_NOTICE, strip_text
from monitor.tui.logview import Finding, LogView

STRIP_BEFORE_S = 3.0
STRIP_S = 10.0
Exporter = Callable[[int, int], str]
"""exporter(start_ns, end_ns) -> a line saying what was written where."""


def clock(t_ns: int, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(t_ns / 1e9, tz=tz or UTC).strftime("%Y-%m-%d %H:%M:%S")


class LogStrip(Widget):
    """The raw ECG of the log around a moment, with the beat letters."""

    DEFAULT_CSS = """
    LogStrip { height: 1fr; min-height: 6; border: round $primary; padding: 0 1;
               color: $success; }
    """

    def __init__(self, view: LogView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.start_ns = view.t0_ns
        self.tz: tzinfo | None = None

    def show(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.refresh()

    def render(self) -> Text:
        view = self.view
        self.border_title = f"ECG {STRIP_S:.0f} s from {clock(self.start_ns, self.tz)}"
        width, height = self.content_size.width, self.content_size.height - 1
        if width < 4 or height < 1:
            return Text("")
        if view.trace_uv.size == 0:
            return Text("the log holds no ECG", style="italic")
        first = view.index_of(self.start_ns)
        shown = STRIP_S * view.fs
        lo = max(0, int(first) - 1)
        hi = min(view.trace_uv.size, int(first + shown) + 2)
        if hi <= lo:
            return Text("no ECG recorded here", style="italic")
        rows, marks = tr.render_strip(
            view.trace_uv[lo:hi], lo, first, shown, width, height, view.beats_as_indices()
        )
        return strip_text(rows, marks, width)


class ReviewScreen(Screen[None]):
    """Time line of findings, the strip around the selected one, beat statistics."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "pan(-5)", "Earlier", key_display="["),
        Binding("right_square_bracket", "pan(5)", "Later", key_display="]"),
        Binding("e", "export", "Export strip"),
        Binding("escape,q", "close", "Back"),
    ]
    DEFAULT_CSS = """
    ReviewScreen #title { height: 1; background: $panel; }
    ReviewScreen #notice { height: 1; color: $text-muted; }
    ReviewScreen #top { height: 1fr; }
    ReviewScreen DataTable { width: 3fr; }
    ReviewScreen #stats { width: 2fr; padding: 0 1; }
    ReviewScreen LogStrip { height: 10; }
    """

    def __init__(
        self,
        view: LogView,
        title: str,
        exporter: Exporter | None = None,
        tz: tzinfo | None = None,
        standalone: bool = False,
    ) -> None:
        """standalone: the screen is the whole app (review); closing it quits."""
        super().__init__()
        self.standalone = standalone
        self.view = view
        self.title_text = title
        self.exporter = exporter
        self.tz = tz
        self.last_export = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(f" {self.title_text}", style="bold"), id="title")
        yield Static(f" {TUI_NOTICE}", id="notice")
        with Horizontal(id="top"):
            yield DataTable(id="findings", cursor_type="row", zebra_stripes=True)
            yield Static(self._stats_text(), id="stats")
        strip = LogStrip(self.view)
        strip.tz = self.tz
        yield strip
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("time", "finding", "length", "detail")
        for i, finding in enumerate(self.view.findings):
            table.add_row(*self._row(finding), key=str(i))
        if self.view.findings:
            self._select(0)
        table.focus()

    def _row(self, f: Finding) -> tuple[str, Text, str, str]:
        style = {"critical": "bold red", "warning": "bold dark_orange"}.get(
            str(f.data.get("severity", "")), ""
        )
        label = Text(f"{f.category[:2]} {f.kind}", style=style)
        length = "" if f.duration_s is None else f"{f.duration_s:.0f} s"
        detail = str(f.data.get("message") or f.data.get("reason") or "")
        return clock(f.start_ns, self.tz)[11:], label, length, detail[:40]

    def _stats_text(self) -> Text:
        s = self.view.stats()
        text = Text()
        text.append("recorded ", style="bold")
        text.append(f"{s['recorded_s'] / 60:.1f} min of {s['span_s'] / 60:.1f}\n")
        text.append("beats ", style="bold")
        text.append(f"{s['beats']}\n")
        for label in ("N", "S", "V", "F", "Q", "?"):
            n = s["counts"].get(label, 0)
            if label == "?" and not n:
                continue
            text.append(f" {label}", style=BEAT_STYLES[label])
            share = 100 * n / s["beats"] if s["beats"] else 0.0
            text.append(f" {n} ({share:.1f}%)\n")
        if s["hr_median"] is not None:
            text.append("HR ", style="bold")
            text.append(f"{s['hr_median']:.0f} bpm (range {s['hr_min']:.0f}-{s['hr_max']:.0f})\n")
        text.append(f"{s['episodes']} episodes, {s['alerts']} alerts")
        return text

    def _select(self, row: int) -> None:
        finding = self.view.findings[row]
        self.query_one(LogStrip).show(finding.start_ns - round(STRIP_BEFORE_S * 1e9))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row is not None and 0 <= event.cursor_row < len(self.view.findings):
            self._select(event.cursor_row)

    def action_pan(self, seconds: int) -> None:
        strip = self.query_one(LogStrip)
        strip.show(strip.start_ns + seconds * 10**9)

    def action_export(self) -> None:
        if self.exporter is None:
            self.notify("export is not available here", severity="warning")
            return
        start = self.query_one(LogStrip).start_ns
        try:
            self.last_export = self.exporter(start, start + round(STRIP_S * 1e9))
        except Exception as exc:  # shown, never a crash of the review
            self.notify(f"export failed: {exc}", severity="error", timeout=8)
            return
        self.notify(self.last_export, timeout=8)

    def action_close(self) -> None:
        if self.standalone:
            self.app.exit()
        else:
            self.app.pop_screen()


class PassphraseScreen(ModalScreen[str | None]):
    """Asks for a passphrase; hands it to the caller once and keeps nothing."""

    DEFAULT_CSS = """
    PassphraseScreen { align: center middle; }
    PassphraseScreen Vertical { width: 60; height: auto; border: round $primary;
                                background: $surface; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.prompt)
            yield Input(password=True, id="passphrase")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value
        event.input.value = ""
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReviewApp(App[None]):
    """`ecgmon review`: the clinician's view of a log copied from a patient."""

    TITLE = "ecgmon review"

    def __init__(
        self,
        view: LogView,
        title: str,
        exporter: Exporter | None = None,
        tz: tzinfo | None = None,
        dark: bool = True,
    ) -> None:
        super().__init__()
        self.view = view
        self.review_title = title
        self.exporter = exporter
        self.tz = tz
        self.theme = "textual-dark" if dark else "textual-light"

    def on_mount(self) -> None:
        self.push_screen(
            ReviewScreen(self.view, self.review_title, self.exporter, self.tz, standalone=True)
        )


def export_with_store(log: Path, identity: Any, out: Path) -> Exporter:
    """An exporter writing CSV (ECG, beats, events) of a time range with monitor.store."""

    def run(start_ns: int, end_ns: int) -> str:
        from monitor.store.export import export

        stamp = datetime.fromtimestamp(start_ns / 1e9, tz=UTC).strftime("%Y%m%dT%H%M%S")
        folder = out / f"strip-{stamp}"
        result = export(log, identity, "csv", folder, start_ns=start_ns, end_ns=end_ns)
        return f"exported {result.samples} samples, {result.beats} beats to {folder}"

    return run
