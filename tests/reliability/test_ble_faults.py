"""BLE faults through the virtual strap: the session keeps going and loses nothing it got.

Every test runs the real `StrapSession` (bleak's `BleakClient` with the virtual strap
as its backend) on virtual time, against a ramp source whose sample values are their
own indices: the delivered samples prove order and uniqueness by themselves, and
together with the reported gaps they must account for every sample the strap sent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.ble import pmd
from monitor.ble.capture import CaptureWriter
from monitor.ble.events import (
    BatteryLevel,
    ClockJump,
    DuplicateFrame,
    Malformed,
    OutOfOrderFrame,
    SessionState,
    StateChanged,
)
from monitor.ble.session import SessionConfig
from monitor.ble.virtual import Faults, VirtualStrap
from monitor.frame import EcgFrame
from tests.ble.helpers import run_session

from .conftest import Tally, fuzz
from .strapkit import FS, OFFSET, N, indices, ramp_strap

SECONDS = 60.0
FRAMES = round(SECONDS * FS) // N  # whole notifications the strap sends (106)
SPACING = 4
"""Faulted frames are at least this many frames apart: each fault is then unambiguous
(a reordered frame next to a dropped one has no single right answer)."""

FUZZ = fuzz(400)

_kinds = st.sampled_from(["drop", "duplicate", "reorder", "malformed", "delay", "jump"])
_jumps = st.sampled_from([0.3, 2.0, 30.0, 3600.0, -2.0, -30.0, -3600.0])
"""Strap clock set back (positive) or forward by this many seconds."""


@st.composite
def fault_plans(draw: st.DrawFn) -> dict[int, str]:
    """Up to 12 isolated faults of every kind at frames 2 .. FRAMES-4."""
    slots = list(range(2, FRAMES - 3, SPACING))
    chosen = draw(st.lists(st.sampled_from(slots), unique=True, max_size=12))
    return {k: draw(_kinds) for k in sorted(chosen)}


@st.composite
def fault_mixes(draw: st.DrawFn) -> tuple[dict[int, str], dict[int, float]]:
    """A fault plan, and the size of each clock jump in it."""
    plan = draw(fault_plans())
    return plan, {k: draw(_jumps) for k, kind in plan.items() if kind == "jump"}


@FUZZ
@given(mix=fault_mixes())
def test_every_sample_is_delivered_once_in_order_or_reported_as_a_gap(
    mix: tuple[dict[int, str], dict[int, float]], tally: Tally
) -> None:
    """A random mix of dropped, duplicated, reordered, truncated and late notifications
    (1.5 s, under the watchdog) and jumps of the strap's clock (0.3 s to an hour, either
    way): the delivered samples are exactly the sent ones minus the dropped and truncated
    frames, once each and in order, and the host timeline never goes back; each fault is
    reported."""
    plan, jumps = mix
    frames = {
        kind: frozenset(k for k, v in plan.items() if v == kind) for kind in set(plan.values())
    }
    faults = Faults(
        drop=frames.get("drop", frozenset()),
        duplicate=frames.get("duplicate", frozenset()),
        reorder=frames.get("reorder", frozenset()),
        malformed=frames.get("malformed", frozenset()),
        delay_s={k: 1.5 for k in frames.get("delay", ())},
        clock_jump_s=jumps,
    )
    tally.case()
    tally.fault(len(plan))
    result = run_session(ramp_strap(SECONDS, faults))
    lost = frames.get("drop", frozenset()) | frames.get("malformed", frozenset())
    expected = np.concatenate(
        [np.arange(k * N, (k + 1) * N) for k in range(FRAMES) if k not in lost]
    )
    got = indices(result)
    missing = np.setdiff1d(expected, got).size
    tally.lost(missing)
    assert np.all(np.diff(got) > 0), "a sample came twice or out of order"
    assert np.array_equal(got, expected)
    assert result.gap_samples() == len(lost) * N
    assert len(result.of(DuplicateFrame)) == len(frames.get("duplicate", ()))
    assert sum(m.count for m in result.of(Malformed)[-1:]) == len(frames.get("malformed", ()))
    recovered = [o for o in result.of(OutOfOrderFrame) if o.recovered]
    assert len(recovered) == len(frames.get("reorder", ()))
    assert len(result.of(ClockJump)) == len(jumps)
    assert result.states().count(SessionState.STREAMING) == 1
    starts = np.array([f.t0_ns for f in result.of(EcgFrame)])
    assert np.all(np.diff(starts) > 0), "the host timeline went back"


def test_a_disconnect_every_five_seconds_for_a_minute(tally: Tally) -> None:
    """Twelve link losses, one every 5 s of streaming: the session reconnects after each,
    says why each time, and every sent sample is delivered once, in order, or in a gap."""
    faults = Faults(disconnect_after_s=5.0, max_disconnects=12)
    result = run_session(ramp_strap(90.0, faults))
    tally.fault(12)
    got = indices(result)
    sent = (len(result.strap.samples_uv) // N) * N
    tally.lost(sent - got.size - result.gap_samples())
    assert result.states().count(SessionState.STREAMING) == 13
    lost_links = [s for s in result.of(StateChanged) if s.state is SessionState.RECONNECTING]
    assert len(lost_links) >= 12 and all(s.reason for s in lost_links)
    assert np.all(np.diff(got) > 0)
    assert got.size + result.gap_samples() == sent


def test_a_strap_that_never_answers_start_is_retried_with_bounded_backoff(tally: Tally) -> None:
    """The control point never replies: ten minutes of attempts, each failure with its
    reason, backoff never beyond its cap, and the session never gives up silently."""
    config = SessionConfig(scan_timeout_s=3.0)
    result = run_session(
        ramp_strap(900.0, Faults(reply_delay_s=1e9)), config, limit_s=600.0, limit_ends_run=True
    )
    retries = [s for s in result.of(StateChanged) if s.state is SessionState.RECONNECTING]
    tally.fault(len(retries))
    assert len(retries) >= 5
    assert all("no PMD response" in s.reason for s in retries)
    cap = config.backoff_max_s * (1 + config.backoff_jitter)
    assert all(s.retry_in_s is not None and s.retry_in_s <= cap for s in retries)
    assert SessionState.FAILED not in result.states()


def test_a_battery_at_zero_is_reported_and_streaming_goes_on(tally: Tally) -> None:
    """0% battery is a reading to show, not a reason to stop: every sample still arrives."""
    tally.fault()
    result = run_session(ramp_strap(30.0, Faults(battery_percent=0)))
    assert [b.percent for b in result.of(BatteryLevel)] == [0]
    got = indices(result)
    assert np.array_equal(got, np.arange((len(result.strap.samples_uv) // N) * N))


def _capture_with_clock_jump(path: Path, jump_s: float, at: int, frames: int) -> None:
    """A capture of ramp frames whose strap timestamps jump by -jump_s at frame `at`
    (a strap clock reset); host receive times stay regular, as on the air."""
    t0 = 1_767_225_600_000_000_000
    with CaptureWriter(path, "Polar H10 0A1B2C3D", "A0:9E:1A:0A:1B:2C", t0) as out:
        for k in range(frames):
            last = (k + 1) * N - 1
            shift = round(jump_s * 1e9) if k >= at else 0
            sensor = pmd.H10_DEFAULT_SENSOR_NS + round(last / FS * 1e9) - shift
            data = pmd.encode_ecg_frame(sensor, OFFSET + np.arange(k * N, (k + 1) * N))
            out.write(pmd.PMD_DATA_UUID, "notify", data, t0 + round(last / FS * 1e9) + 5_000_000)


@pytest.mark.parametrize("jump_s", [0.3, 2.0, 30.0, 3600.0, -2.0, -30.0, -3600.0])
def test_a_strap_clock_jump_loses_no_sample(jump_s: float, tmp_path: Path, tally: Tally) -> None:
    """The strap's timestamps jump (backwards: positive jump_s) halfway through a
    replayed capture: every sample received in order is still delivered, in order, on
    a host timeline that never goes back and has no hole; the jump is reported, no gap.
    Regression for finding B1 (30 s back once lost the next 30 s of frames)."""
    path = tmp_path / "jump.jsonl"
    _capture_with_clock_jump(path, jump_s, at=200, frames=400)
    tally.fault()
    result = run_session(VirtualStrap.from_capture(path))
    got = indices(result)
    tally.lost(400 * N - got.size)
    assert np.all(np.diff(got) > 0)
    assert np.array_equal(got, np.arange(400 * N))
    assert result.gap_samples() == 0
    frames = result.of(EcgFrame)
    starts = np.array([f.t0_ns for f in frames])
    ends = starts + np.array([f.duration_ns for f in frames])
    assert np.all(starts[1:] >= ends[:-1] - 1_000_000), "the host timeline went back"
    assert np.all(starts[1:] - ends[:-1] < 50_000_000), "a hole in the host timeline"
    jumps = result.of(ClockJump)
    assert len(jumps) == 1 and jumps[0].jump_s == pytest.approx(-jump_s, abs=0.02)
