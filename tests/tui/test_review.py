"""The review screen (time line, strip, statistics) on a log view built from the real
pipeline's output over the synthetic recording."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import numpy as np
import pytest
from textual.widgets import DataTable

from monitor.frame import EcgFrame
from monitor.pipeline import Pipeline
from monitor.tui.logview import LogView, build_view
from monitor.tui.review import LogStrip, ReviewApp, ReviewScreen
from tests.daemon.synthetic import FS, synthetic_ecg

T0 = 1_780_000_000 * 10**9  # a fixed moment, so snapshots do not depend on the clock


def synthetic_view() -> LogView:
    x, _ = synthetic_ecg(120.0)
    pipeline = Pipeline()
    beats = []
    blocks = []
    for lo in range(0, x.size, 1300):  # 10 s blocks, as the daemon logs them
        chunk = x[lo : lo + 1300]
        blocks.append((T0 + round(lo * 1e9 / FS), FS, np.rint(chunk).astype(np.int32)))
        beats += pipeline.process(EcgFrame(0, FS, chunk)).beats
    beats += pipeline.flush().beats
    events: list[tuple[str, str, int, int | None, dict[str, Any]]] = [
        (
            "episode",
            "pause",
            T0 + 40 * 10**9,
            T0 + 42 * 10**9,
            {"id": "e1", "final": True, "reason": None},
        ),
        (
            "alert",
            "pause",
            T0 + 42 * 10**9,
            None,
            {"severity": "warning", "message": "pause in the heartbeat"},
        ),
        ("episode", "tachy", T0 + 80 * 10**9, T0 + 85 * 10**9, {"id": "e2", "final": False}),
        ("episode", "tachy", T0 + 80 * 10**9, T0 + 110 * 10**9, {"id": "e2", "final": True}),
    ]
    # a 20 s hole in the recording (strap off): blocks 6 and 7 missing
    blocks = blocks[:6] + blocks[8:]
    return build_view(blocks, [(T0 + round(b.time_s * 1e9), b.label) for b in beats], events)


def test_view_places_everything_on_one_time_axis() -> None:
    view = synthetic_view()
    assert view.fs == FS and view.t0_ns == T0
    assert view.duration_s == pytest.approx(120.0)
    assert view.recorded_s == pytest.approx(100.0)
    assert np.isnan(view.trace_uv[int(65 * FS)])  # inside the hole
    kinds = [(f.category, f.kind) for f in view.findings]
    assert kinds == [("episode", "pause"), ("alert", "pause"), ("episode", "tachy")]
    assert view.findings[2].duration_s == pytest.approx(30.0)  # the final form only
    stats = view.stats()
    assert stats["counts"] == {"?": stats["beats"]} and stats["hr_median"] == pytest.approx(75, 1)


async def test_review_pilot_selects_findings_and_moves_the_strip() -> None:
    view = synthetic_view()
    app = ReviewApp(view, "review: synthetic.log", tz=UTC)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        strip = screen.query_one(LogStrip)
        assert strip.start_ns == T0 + 37 * 10**9  # 3 s before the pause
        await pilot.press("down", "down")
        assert strip.start_ns == T0 + 77 * 10**9
        await pilot.press("right_square_bracket")
        assert strip.start_ns == T0 + 82 * 10**9
        rendered = str(strip.render())
        assert rendered.splitlines()[-1].count("?") >= 8
        await pilot.press("e")  # no exporter in this app: says so, does not crash
        await pilot.press("q")
    assert app.return_code in (0, None)


def test_review_snapshot(snap_compare: Any) -> None:
    app = ReviewApp(synthetic_view(), "review: synthetic.log", tz=UTC)
    assert snap_compare(app, terminal_size=(80, 24))
