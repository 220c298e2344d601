"""StrapSession through bleak's real BleakClient against the virtual H10, one fault at a time.

Everything runs on a virtual-time event loop, so the timings below (seconds of
strap time) cost no wall time and every run sees the same order of events.
"""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from monitor.ble import pmd
from monitor.ble.events import (
    BatteryLevel,
    DuplicateFrame,
    EcgUnavailable,
    Gap,
    HeartRate,
    LateFrame,
    Malformed,
    OutOfOrderFrame,
    SessionState,
    Stalled,
    StateChanged,
)
from monitor.ble.session import SessionConfig, backoff_delay
from monitor.ble.simtime import VirtualTimeLoop, run_virtual
from monitor.ble.virtual import Faults
from monitor.frame import EcgFrame
from tests.ble.helpers import N, Run, expected_samples, run_session, strap, until_stream_end

S = SessionState


def frames_sent(run: Run) -> int:
    return len(run.strap.samples_uv) // N


def check_timing(run: Run) -> None:
    """Consecutive frames are 73 samples apart on the host clock (within 1 ms)."""
    t0 = np.array([f.t0_ns for f in run.frames], dtype=np.float64)
    step = np.diff(t0) / 1e9
    ok = np.isclose(step, N / 130.0, atol=1e-3) | (step > N / 130.0)  # gaps only lengthen
    assert ok.all()


def test_clean_stream_delivers_every_sample_with_events() -> None:
    run = run_session(strap(60))
    assert run.states()[:3] == [S.SCANNING, S.CONNECTING, S.STREAMING]
    assert run.of(StateChanged)[2].reason == "ecg+hr"
    total = frames_sent(run)
    np.testing.assert_array_equal(run.samples(), expected_samples(run.strap, list(range(total))))
    assert not run.of(Gap) and not run.of(Malformed)
    assert all(f.fs == 130.0 for f in run.frames)
    check_timing(run)
    assert [b.percent for b in run.of(BatteryLevel)] == [87]
    rates = [h.bpm for h in run.of(HeartRate)[10:]]
    assert rates and all(60 <= r <= 76 for r in rates)  # the synthetic source beats at ~68
    rr = [v for h in run.of(HeartRate) for v in h.rr_s]
    assert 0.8 < float(np.median(rr)) < 0.95
    # the strap saw STOP (clears a stale stream) and then the documented START
    assert [d.hex() for _, d in run.strap.log[:2]] == ["0300", "02000001820001010e00"]


def gaps_at(run: Run) -> list[tuple[int, int]]:
    return [(run.before(g), g.samples) for g in run.of(Gap)]


def test_dropped_frames_are_gaps_exactly_where_they_were() -> None:
    run = run_session(strap(60, Faults(drop=frozenset({5, 40, 41}))))
    sent = [k for k in range(frames_sent(run)) if k not in {5, 40, 41}]
    np.testing.assert_array_equal(run.samples(), expected_samples(run.strap, sent))
    assert gaps_at(run) == [(5 * N, N), (39 * N, 2 * N)]
    first = run.of(Gap)[0]
    assert first.duration_ns == pytest.approx(N / 130 * 1e9, abs=1e6)
    before = run.frames[4]
    assert first.start_ns == pytest.approx(before.t0_ns + before.duration_ns, abs=1e6)


def test_duplicates_are_reported_and_dropped() -> None:
    run = run_session(strap(30, Faults(duplicate=frozenset({3, 9}))))
    assert len(run.of(DuplicateFrame)) == 2 and not run.of(Gap)
    np.testing.assert_array_equal(
        run.samples(), expected_samples(run.strap, list(range(frames_sent(run))))
    )


def test_reordered_frames_are_put_back_in_order() -> None:
    run = run_session(strap(30, Faults(reorder=frozenset({4, 20}))))
    assert [(o.recovered) for o in run.of(OutOfOrderFrame)] == [True, True]
    assert not run.of(Gap)
    np.testing.assert_array_equal(
        run.samples(), expected_samples(run.strap, list(range(frames_sent(run))))
    )


def test_delayed_frames_are_late_but_not_lost() -> None:
    run = run_session(strap(60, Faults(delay_s={30: 1.5})))  # under the 2.5 s watchdog
    late = run.of(LateFrame)
    assert late and max(x.latency_s for x in late) == pytest.approx(1.5, abs=0.1)
    assert not run.of(Gap)
    np.testing.assert_array_equal(
        run.samples(), expected_samples(run.strap, list(range(frames_sent(run))))
    )
    check_timing(run)  # the late burst is still placed on the strap's clock


def test_malformed_frame_is_counted_skipped_and_a_gap() -> None:
    run = run_session(strap(30, Faults(malformed=frozenset({6}))))
    (bad,) = run.of(Malformed)
    assert bad.count == 1 and bad.characteristic == pmd.PMD_DATA_UUID
    assert run.session.malformed == 1
    assert gaps_at(run) == [(6 * N, N)]


def test_link_loss_reconnects_and_reports_the_loss() -> None:
    faults = Faults(disconnect_after_s=20.0, out_of_range_s=8.0)
    run = run_session(strap(90, faults), SessionConfig(scan_timeout_s=3.0))
    states = run.states()
    assert states.count(S.STREAMING) == 2
    lost = run.of(StateChanged)[states.index(S.RECONNECTING)]
    assert lost.reason == "strap disconnected" and lost.retry_in_s is not None
    # while out of range the scans fail, with growing backoff
    misses = [
        s for s in run.of(StateChanged) if s.state is S.RECONNECTING and "not found" in s.reason
    ]
    assert misses and [m.attempt for m in misses] == list(range(1, len(misses) + 1))
    (gap,) = run.of(Gap)
    total = frames_sent(run) * N
    assert len(run.samples()) + gap.samples == total  # every sample delivered or accounted for
    assert gap.samples % N == 0 and gap.duration_ns / 1e9 > 8.0


def test_survives_hours_out_of_range() -> None:
    faults = Faults(disconnect_after_s=20.0, out_of_range_s=3 * 3600.0)
    streaming = []

    def back_again(item: object) -> bool:
        if isinstance(item, StateChanged) and item.state is S.STREAMING:
            streaming.append(item)
        return len(streaming) == 2

    run = run_session(strap(3 * 3600 + 300, faults), stop=back_again, limit_s=4 * 3600)
    retries = [s for s in run.of(StateChanged) if s.state is S.RECONNECTING]
    assert len(retries) > 100 and max(r.retry_in_s or 0 for r in retries) == 60.0
    away_s = (streaming[1].t_ns - streaming[0].t_ns) / 1e9
    assert 3 * 3600 < away_s < 3 * 3600 + 120  # back within one capped backoff + scan


def test_stall_is_detected_by_the_watchdog_and_recovered() -> None:
    run = run_session(strap(60, Faults(stall_after_s=15.0)), SessionConfig(watchdog_s=2.5))
    (stall,) = run.of(Stalled)
    assert stall.silence_s == pytest.approx(2.5, abs=0.01)
    assert any("stalled" in s.reason for s in run.of(StateChanged) if s.state is S.RECONNECTING)
    assert run.states().count(S.STREAMING) == 2
    (gap,) = run.of(Gap)
    assert len(run.samples()) + gap.samples == frames_sent(run) * N


def test_refused_start_is_retried_with_backoff() -> None:
    run = run_session(strap(30, Faults(refuse_start=2)))
    retries = [s for s in run.of(StateChanged) if s.state is S.RECONNECTING]
    assert [r.attempt for r in retries[:2]] == [1, 2]
    assert all("invalid state" in r.reason for r in retries[:2])
    assert retries[1].retry_in_s > retries[0].retry_in_s
    assert S.STREAMING in run.states() and not run.of(EcgUnavailable)


def test_permanent_refusal_falls_back_to_heart_rate() -> None:
    faults = Faults(refuse_start=-1, refuse_status=pmd.Status.NOT_SUPPORTED)
    vstrap = strap(30, faults)
    count = {"hr": 0}

    def stop(item: object) -> bool:
        count["hr"] += isinstance(item, HeartRate)
        return count["hr"] >= 10

    run = run_session(vstrap, stop=stop)
    (why,) = run.of(EcgUnavailable)
    assert "not supported" in why.reason
    assert run.of(StateChanged)[-1].reason == "hr" and not run.frames
    assert all(h.rr_s for h in run.of(HeartRate)[2:])


def test_strap_without_raw_ecg_streams_heart_rate_only() -> None:
    vstrap = strap(30, ecg=False)  # an H9-like strap: no PMD service
    seen: list[object] = []

    def stop(item: object) -> bool:
        seen.append(item)
        return sum(isinstance(i, HeartRate) for i in seen) >= 5

    run = run_session(vstrap, stop=stop)
    assert "no PMD service" in run.of(EcgUnavailable)[0].reason
    assert S.STREAMING in run.states()


def test_connect_that_hangs_times_out_then_succeeds() -> None:
    run = run_session(strap(30, Faults(hang_on_connect=1)), SessionConfig(connect_timeout_s=5.0))
    first = next(s for s in run.of(StateChanged) if s.state is S.RECONNECTING)
    assert "timed out" in first.reason
    assert S.STREAMING in run.states() and len(run.samples()) > 0


def test_battery_level_and_its_notifications() -> None:
    vstrap = strap(30, Faults(battery_percent=12))

    def stop(item: object) -> bool:
        if isinstance(item, BatteryLevel) and item.percent == 12:
            vstrap.set_battery(11)
        return isinstance(item, BatteryLevel) and item.percent == 11

    run = run_session(vstrap, stop=stop)
    assert [b.percent for b in run.of(BatteryLevel)] == [12, 11]


def test_clock_drift_is_estimated_and_corrected() -> None:
    run = run_session(strap(900, Faults(clock_drift_ppm=40.0)))
    assert run.session.drift_ppm == pytest.approx(40.0, abs=1.0)
    # on its own (fast) clock the strap's 130 Hz looks slightly slower
    assert run.session.sample_rate_hz == pytest.approx(130 / (1 + 40e-6), abs=1e-3)
    # host time of each frame's first sample vs when the strap really measured it
    first = run.frames[0].t0_ns
    errors = [abs(f.t0_ns - first - round(k * N / 130 * 1e9)) for k, f in enumerate(run.frames)]
    assert max(errors[200:]) < 2e6  # within 2 ms, where uncorrected drift is 36 ms at 15 min


def test_reply_before_write_returns_and_stale_stream() -> None:
    run = run_session(strap(30, Faults(reply_before_write_returns=True)))
    assert len(run.samples()) == frames_sent(run) * N
    faults = Faults(stale_stream=True, disconnect_after_s=10.0)
    run = run_session(strap(40, faults))
    assert run.states().count(S.STREAMING) == 2
    # after the link loss the strap still streamed: STOP first made START succeed;
    # the last STOP is the session's clean shutdown
    start = "02000001820001010e00"
    assert [d.hex() for _, d in run.strap.log] == ["0300", start, "0300", start, "0300"]
    assert run.strap.control_point(pmd.stop_request()) == bytes.fromhex("f003000000")


def test_frames_before_the_start_reply_are_kept() -> None:
    run = run_session(strap(30, Faults(reply_delay_s=1.2)))
    streaming = next(s for s in run.of(StateChanged) if s.state is S.STREAMING)
    assert run.before(streaming) == 2 * N  # two frames came before START's reply
    assert len(run.samples()) == frames_sent(run) * N and not run.of(Gap)


def test_bluez_echo_of_the_feature_read_is_ignored() -> None:
    # the session reads the CP before subscribing, so the echo cannot happen to it;
    # should a stack deliver one anyway, the CP handler takes it without complaint
    run = run_session(strap(20, Faults(echo_reads=True)))
    session = run.session

    async def echo() -> None:
        session._on_cp(None, bytearray(pmd.encode_features({pmd.MeasurementType.ECG})))

    run_virtual(echo())
    assert session.malformed == 0 and len(run.samples()) == frames_sent(run) * N


def test_already_in_state_gets_stop_and_start_again() -> None:
    faults = Faults(stale_stream=True, stuck_stops=1, disconnect_after_s=10.0)
    run = run_session(strap(40, faults))
    start = "02000001820001010e00"
    writes = [d.hex() for _, d in run.strap.log]
    # 2nd connection: STOP (ignored by the strap), START -> 06, STOP, START -> ok; then close
    assert writes == ["0300", start, "0300", start, "0300", start, "0300"]
    assert run.states().count(S.STREAMING) == 2


def test_stream_that_never_stops_fails_with_the_reason() -> None:
    faults = Faults(stale_stream=True, stuck_stops=-1, disconnect_after_s=10.0)
    run = run_session(strap(40, faults), SessionConfig(scan_timeout_s=2.0, max_attempts=3))
    assert run.states()[-1] is S.FAILED
    assert "already in state" in run.of(StateChanged)[-1].reason


def test_gives_up_after_max_attempts_with_reason() -> None:
    config = SessionConfig(address="00:11:22:33:44:55", scan_timeout_s=2.0, max_attempts=4)
    run = run_session(strap(10), config)
    assert run.states()[-1] is S.FAILED
    assert "00:11:22:33:44:55 not found" in run.of(StateChanged)[-1].reason
    delays = [s.retry_in_s for s in run.of(StateChanged) if s.state is S.RECONNECTING]
    assert len(delays) == 3
    for attempt, delay in enumerate(delays, start=1):
        assert 0.75 * 2 ** (attempt - 1) <= delay <= 1.25 * 2 ** (attempt - 1)


def test_backoff_is_bounded_and_jittered() -> None:
    rng = random.Random(1)
    config = SessionConfig(backoff_initial_s=1.0, backoff_max_s=60.0, backoff_jitter=0.25)
    delays = [backoff_delay(n, config, rng) for n in range(1, 40)]
    assert max(delays) <= 60.0 and set(delays[10:]) == {60.0}
    assert len(set(delays[:6])) == 6  # jitter: no two straps retry in lockstep
    for n, delay in enumerate(delays[:5], start=1):
        assert 0.75 * 2 ** (n - 1) <= delay <= 1.25 * 2 ** (n - 1)


@pytest.mark.parametrize(
    "config",
    [
        SessionConfig(name="Polar H10", scan_timeout_s=2.0),
        SessionConfig(name="Polar H10 0A1B2C3D", scan_timeout_s=2.0),
        SessionConfig(address="a0:9e:1a:0a:1b:2c", scan_timeout_s=2.0),
    ],
)
def test_connects_by_name_prefix_or_address(config: SessionConfig) -> None:
    run = run_session(strap(10), config)
    assert S.STREAMING in run.states() and run.session.device_address == "A0:9E:1A:0A:1B:2C"


def test_wrong_name_is_not_found() -> None:
    run = run_session(strap(10), SessionConfig(name="Polar H9", scan_timeout_s=1.0, max_attempts=1))
    assert run.states() == [S.SCANNING, S.FAILED]
    assert run.of(StateChanged)[-1].reason == "Polar H9 not found within 1 s"


@pytest.mark.parametrize("back_s", [5.0, 86_400.0])
def test_a_clock_reset_during_a_link_loss_restarts_the_timeline_on_the_host_clock(
    back_s: float,
) -> None:
    """The strap's clock is set back while it is out of reach (a few seconds, or a day):
    the timestamps cannot bridge the loss, so it is measured on the host's clock, and the
    host timeline still only goes forwards."""
    faults = Faults(disconnect_after_s=20.0, out_of_range_s=8.0, clock_jump_s={45: back_s})
    run = run_session(strap(90, faults), SessionConfig(scan_timeout_s=3.0))
    assert run.states().count(S.STREAMING) == 2
    (gap,) = run.of(Gap)
    total = frames_sent(run) * N
    assert abs(len(run.samples()) + gap.samples - total) <= 2  # host clock: within 2 samples
    assert gap.duration_ns / 1e9 > 8.0
    check_timing(run)


def check_contiguous(run: Run) -> None:
    """Every frame starts where the previous one ended on the host clock (within 1 ms):
    no sample was lost, so the host timeline has no hole and no overlap either."""
    t0 = np.array([f.t0_ns for f in run.frames], dtype=np.float64)
    np.testing.assert_allclose(np.diff(t0) / 1e9, N / 130.0, atol=1e-3)


def test_a_stalled_host_is_late_frames_not_a_gap() -> None:
    """The host's event loop stalls for 6 s (a busy laptop); the strap keeps measuring
    and its frames then arrive in a burst, over 1 s late for 8 frames in a row, which
    re-anchors the clock map. The strap's timestamps say the frames are contiguous, so
    the host timeline must be too: it used to jump ~1.5 s forwards at the re-anchoring
    (the daemon's false "1.5 s of ECG missing between two frames") and then back."""
    delivered = 0

    def stall_once(item: object) -> bool:
        nonlocal delivered
        if isinstance(item, EcgFrame):
            delivered += 1
            if delivered == 60:
                loop = asyncio.get_running_loop()
                assert isinstance(loop, VirtualTimeLoop)
                loop.advance(6.0)  # nothing runs for 6 s of virtual time
        return until_stream_end(item)

    run = run_session(strap(90), stop=stall_once)
    assert len(run.of(LateFrame)) >= 8  # the burst was late enough to re-anchor the map
    assert not run.of(Gap)
    np.testing.assert_array_equal(
        run.samples(), expected_samples(run.strap, list(range(frames_sent(run))))
    )
    check_contiguous(run)


@pytest.mark.parametrize(("step_s", "late"), [(5.0, 8), (60.0, 0)])
def test_a_host_clock_step_re_anchors_the_map_not_the_timeline(
    step_s: float, late: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's clock steps forwards at 30 s (NTP): every frame now looks `step_s`
    late. What the clock map's reset is for: after 8 late frames in a row (or at once,
    beyond 30 s) the map follows the host's new clock, so lateness is no longer
    reported. No sample is missing on the strap's clock, so neither a gap nor a jump of
    the frames' host timeline."""
    vstrap = strap(60)
    strap_clock = vstrap.clock
    first: list[int] = []

    def stepping_clock() -> int:
        now = strap_clock()
        first[:] = first or [now]
        return now + round(step_s * 1e9) if now - first[0] > 30e9 else now

    kwargs = vstrap.session_kwargs() | {"clock": stepping_clock}
    monkeypatch.setattr(vstrap, "session_kwargs", lambda: kwargs)
    run = run_session(vstrap)
    assert len(run.of(LateFrame)) == late
    assert not run.of(Gap)
    np.testing.assert_array_equal(
        run.samples(), expected_samples(run.strap, list(range(frames_sent(run))))
    )
    check_contiguous(run)
