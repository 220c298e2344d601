"""The live screen redraws only what changed, and says so when the daemon falls silent."""

from __future__ import annotations

from typing import Any

from textual.widget import Widget

from monitor.tui.app import AlertBanner, EcgTrace, MonitorApp, StatusHeader, Vitals
from tests.tui.test_live_pilot import text_of
from tests.tui.test_snapshots import welcome_messages


def count_updates(app: MonitorApp) -> dict[str, int]:
    """Count update() of the text lines and refresh() of the trace from now on."""
    calls = {"header": 0, "banner": 0, "vitals": 0, "trace": 0}

    def counting(widget: Widget, method: str, name: str) -> None:
        original = getattr(widget, method)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        setattr(widget, method, wrapper)

    counting(app.query_one(StatusHeader), "update", "header")
    counting(app.query_one(AlertBanner), "update", "banner")
    counting(app.query_one(Vitals), "update", "vitals")
    counting(app.query_one(EcgTrace), "refresh", "trace")
    return calls


async def test_a_redraw_touches_only_what_changed() -> None:
    messages = welcome_messages(20.0, alert=False)
    app = MonitorApp(None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.live.connected = True
        for msg in messages:
            app.feed(msg)
        app._redraw()
        await pilot.pause()
        calls = count_updates(app)
        app._redraw()  # nothing new
        assert calls == {"header": 0, "banner": 0, "vitals": 0, "trace": 0}
        status = next(m for m in messages if m["type"] == "status")
        app.feed({**status, "last_sample_age_s": 1.3})  # only the header's text changes
        app._redraw()
        assert calls == {"header": 1, "banner": 0, "vitals": 0, "trace": 0}
        assert "last sample 1.3 s ago" in text_of(app.query_one(StatusHeader))
        samples = next(m for m in messages if m["type"] == "samples")
        app.feed({**samples, "start": samples["start"] + len(samples["uv"])})  # new ECG
        app._redraw()
        assert calls == {"header": 1, "banner": 0, "vitals": 0, "trace": 1}


async def test_a_silent_daemon_is_said_without_a_new_message() -> None:
    """No message for SILENT_AFTER_S: the header says so at the next tick, although
    nothing new arrived to mark the screen for redrawing."""
    app = MonitorApp(None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.live.connected = True
        for msg in welcome_messages(5.0, alert=False):
            app.feed(msg)
        app._tick()
        await pilot.pause()
        assert "daemon silent" not in text_of(app.query_one(StatusHeader))
        app._last_message -= 10.0
        app._tick()
        assert "daemon silent" in text_of(app.query_one(StatusHeader))
