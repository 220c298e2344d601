"""The real TUI driven by Textual's pilot against a real daemon over the real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.tui.app import AlertBanner, EcgTrace, MonitorApp, StatusHeader, Vitals
from monitor.tui.state import LiveState
from monitor.tui.trace import BRAILLE_BASE
from tests.daemon.conftest import StartDaemon


def text_of(widget: object) -> str:
    return str(widget.render())  # type: ignore[attr-defined]


def beats_in_view(state: LiveState, window_s: float) -> int:
    """Beats the trace shows: inside both the window and the trace the TUI holds."""
    start, values = state.trace()
    end = start + values.size
    first = max(start, end - window_s * state.trace_fs)
    ratio = state.working_fs / state.trace_fs
    return sum(first <= b.index / ratio < end for b in state.beats)


async def test_live_screen_shows_trace_beats_and_vitals(start_daemon: StartDaemon) -> None:
    """A calm replay (direct, not through the virtual strap: on a loaded machine the
    strap's frames arrive seconds late at 20x speed and the daemon rightly raises a gap
    warning, which this calm screen must not show; the strap path has its own tests)."""
    daemon = await start_daemon(speed=20.0, loop=True, direct=True)
    app = MonitorApp(daemon.config.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        # Wait on what is asserted: 5 beats inside the drawn window (a burst of over 10 s
        # of stream makes the daemon skip ahead and the trace start afresh, nearly empty).
        window_s = app.query_one(EcgTrace).window_s
        await app.wait_for(
            lambda s: beats_in_view(s, window_s) >= 5 and bool(s.status.get("heart_rate_bpm"))
        )
        await pilot.pause()
        app._redraw()
        header = text_of(app.query_one(StatusHeader))
        assert "connected" in header and "last sample" in header and "log: off" in header
        trace = text_of(app.query_one(EcgTrace))
        rows = trace.splitlines()
        assert any(BRAILLE_BASE < ord(ch) < BRAILLE_BASE + 256 for ch in rows[0] + rows[5])
        assert rows[-1].count("?") >= 5  # the beat letters: unclassified without a classifier
        vitals = text_of(app.query_one(Vitals))
        assert "HR 75 bpm" in vitals
        assert "no rhythm stage" in vitals and "not assessed" in vitals
        assert "non-diagnostic" in vitals
        assert not app.query_one(AlertBanner).display, text_of(app.query_one(AlertBanner))
        # Zoom and theme keys work at any time.
        await pilot.press("minus", "t")
        assert app.query_one(EcgTrace).window_s == 9.0
        assert app.query_one(EcgTrace).border_title == "ECG  9 s"
        assert app.theme == "textual-light"
        await pilot.press("q")
    assert app.return_code == 0 or app.return_code is None


async def test_alert_banner_needs_acknowledging(start_daemon: StartDaemon, short_csv: Path) -> None:
    daemon = await start_daemon(recording=short_csv, speed=50.0, stale_after_s=0.3)
    app = MonitorApp(daemon.config.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for(lambda s: any(a["kind"] == "stale" for a in s.pending_alerts()))
        await pilot.pause()
        app._redraw()
        banner = app.query_one(AlertBanner)
        assert banner.display and "CRITICAL" in text_of(banner) and "no ECG" in text_of(banner)
        assert banner.has_class("critical")
        header = text_of(app.query_one(StatusHeader))
        assert "ended" in header
        # Each acknowledgement goes to the daemon; the banner follows its answer.
        while app.live.pending_alerts():
            count = len(app.live.pending_alerts())
            await pilot.press("a")
            await app.wait_for(lambda s, n=count: len(s.pending_alerts()) < n)  # type: ignore[misc]
        await pilot.pause()
        app._redraw()
        assert not banner.display
        assert all(a.acknowledged for a in daemon.alerts.pending())


async def test_without_a_daemon_the_screen_says_so(sock_dir: Path) -> None:
    app = MonitorApp(sock_dir / "nobody.sock")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for(lambda s: "no daemon" in s.connect_error)
        await pilot.pause()
        app._redraw()
        assert "not connected" in text_of(app.query_one(StatusHeader))
        assert "no daemon" in text_of(app.query_one(EcgTrace))


async def test_tui_notices_when_the_daemon_goes_away(start_daemon: StartDaemon) -> None:
    daemon = await start_daemon(speed=10.0, loop=True)
    app = MonitorApp(daemon.config.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for(lambda s: s.connected and bool(s.status))
        daemon.stop()
        await app.wait_for(lambda s: not s.connected)
        await pilot.pause()
        app._redraw()
        assert "not connected" in text_of(app.query_one(StatusHeader))


async def test_live_screen_on_the_whole_daemon(sock_dir: Path, synthetic_csv: Path) -> None:
    """The daemon as `ecgmon demo` builds it: virtual strap, every installed stage, the
    encrypted log to a temporary identity; the screen shows what those stages say."""
    from dataclasses import replace

    from monitor.daemon.config import DaemonConfig
    from monitor.daemon.runner import build_daemon, temporary_identity

    identity = temporary_identity()
    recipients = None if identity is None else [identity.recipient]
    config = replace(
        DaemonConfig(),
        replay=synthetic_csv,
        speed=20.0,
        loop=True,
        socket=sock_dir / "d.sock",
        log=sock_dir / "log.sqlite",
    )
    daemon = build_daemon(config, recipients)
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    stages = daemon.pipeline.summary.stages
    app = MonitorApp(config.socket, log_path=config.log, identity=identity)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.wait_for(lambda s: len(s.beats) >= 10 and s.status.get("stream_s", 0) > 40)
            await pilot.pause()
            app._redraw()
            letters = text_of(app.query_one(EcgTrace)).splitlines()[-1]
            vitals = text_of(app.query_one(Vitals))
            header = text_of(app.query_one(StatusHeader))
            if stages["classifier"] != "none":
                assert "?" not in letters and letters.count("N") >= 3
            if stages["rhythm"] != "none":
                assert "no rhythm stage" not in vitals
            if stages["quality"] != "none":
                assert "%" in vitals  # the quality meter
            assert ("log: writing" in header) == (identity is not None)
            await pilot.press("q")
    finally:
        daemon.stop()
        await task
