"""Snapshots of the live screen (pytest-textual-snapshot), fed a fixed stream of messages.

The messages are what a client receives on connecting to a daemon that has run the
real pipeline over the synthetic recording; only the wall-clock field
(last_sample_age_s) is pinned so that the picture is the same on every run.
Update with `pytest tests/tui --snapshot-update` after a deliberate UI change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from monitor.daemon import protocol
from monitor.daemon.config import DaemonConfig
from monitor.daemon.service import Daemon
from monitor.daemon.sources import ReplaySource
from monitor.frame import EcgFrame
from monitor.pipeline import Pipeline
from monitor.tui.app import MonitorApp
from tests.daemon.synthetic import FS, synthetic_ecg


def welcome_messages(seconds: float, alert: bool) -> list[dict[str, Any]]:
    x, _ = synthetic_ecg(seconds)
    daemon = Daemon(DaemonConfig(), ReplaySource.__new__(ReplaySource), Pipeline())
    daemon.source.describe = lambda: "fixed replay"  # type: ignore[method-assign]
    daemon.connection = "connected"
    for lo in range(0, x.size - 73 + 1, 73):
        daemon._on_frame(EcgFrame(lo * 10**9 // 130, FS, x[lo : lo + 73]))
    daemon._publish()
    if alert:
        daemon._raise("stale", "no ECG for 6.0 s", "critical")
        daemon._raise("noise", "noisy signal: beats are not analysed", "warning")
    messages = [protocol.decode(line) for line in daemon._welcome()]
    for msg in messages:
        if msg["type"] == "status":
            msg["last_sample_age_s"] = 0.3
            msg["battery_pct"] = 87
            msg["stale"] = alert
    return messages


def fed(messages: list[dict[str, Any]]) -> Any:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, MonitorApp)
        app.live.connected = True
        for msg in messages:
            app.feed(msg)
        app._redraw()
        await pilot.pause()

    return run_before


@pytest.fixture(scope="module")
def calm() -> list[dict[str, Any]]:
    return welcome_messages(20.0, alert=False)


@pytest.fixture(scope="module")
def alarming() -> list[dict[str, Any]]:
    return welcome_messages(20.0, alert=True)


@pytest.mark.parametrize("dark", [True, False], ids=["dark", "light"])
def test_live_screen_80x24(snap_compare: Any, calm: list[dict[str, Any]], dark: bool) -> None:
    assert snap_compare(MonitorApp(None, dark=dark), terminal_size=(80, 24), run_before=fed(calm))


def test_live_screen_large_terminal(snap_compare: Any, calm: list[dict[str, Any]]) -> None:
    assert snap_compare(MonitorApp(None), terminal_size=(160, 48), run_before=fed(calm))


def test_live_screen_with_alert_banner(snap_compare: Any, alarming: list[dict[str, Any]]) -> None:
    assert snap_compare(MonitorApp(None), terminal_size=(80, 24), run_before=fed(alarming))


def test_live_screen_without_daemon(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, MonitorApp)
        app.live.connect_error = "no daemon at /run/user/1000/ecgmon/ecgmon.sock"
        app._redraw()
        await pilot.pause()

    assert snap_compare(MonitorApp(None), terminal_size=(80, 24), run_before=run_before)


def test_history_passphrase_prompt(snap_compare: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite"
    log.write_bytes(b"")  # exists; the prompt comes before anything is read
    key = Path("/home/patient/.config/ecgmon/patient.key")
    app = MonitorApp(None, log_path=log, identity_path=key)
    assert snap_compare(app, terminal_size=(80, 24), press=["h", "s", "e", "c"])
