"""Frame sequencing and clock mapping, on hand-built frames (no Bluetooth)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monitor.ble.pmd import EcgDataFrame
from monitor.ble.timing import (
    ClockMap,
    FrameSequencer,
    Jumped,
    Missing,
    Placed,
    Reordered,
    Repeated,
    Restarted,
)

N = 73
FS = 130.17  # what a real H10 measured (gatttool capture): not exactly 130
DT = 1e9 / FS
T0 = 599_616_000_000_000_000


def frame(k: int, t0: int = T0) -> EcgDataFrame:
    """Frame k of a steady stream: samples k*N.., timestamp of its last sample."""
    return EcgDataFrame(
        t0 + round(((k + 1) * N - 1) * DT), np.arange(k * N, (k + 1) * N, dtype=np.int32)
    )


def feed(seq: FrameSequencer, order: list[int]) -> list[object]:
    out: list[object] = []
    for k in order:
        out += seq.push(frame(k))
    return out


def placed_samples(out: list[object]) -> list[int]:
    return [int(v) for item in out if isinstance(item, Placed) for v in item.frame.samples_uv]


def test_steady_stream_is_placed_in_order_and_learns_the_rate() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, list(range(20)))
    assert all(isinstance(item, Placed) for item in out)
    assert placed_samples(out) == list(range(20 * N))
    assert seq.sample_rate_hz == pytest.approx(FS, abs=1e-3)
    # per-sample timing as Polar's SDK: the first sample follows the previous frame's last
    second = out[1]
    assert isinstance(second, Placed)
    assert second.first_sensor_ns == pytest.approx(frame(0).sensor_ns + DT, abs=1)


def test_dropped_frames_become_one_gap_of_the_right_length() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 2, 3, 6, 7, 8])
    out += seq.flush()
    gaps = [item for item in out if isinstance(item, Missing)]
    assert [g.samples for g in gaps] == [2 * N]
    assert gaps[0].start_sensor_ns == pytest.approx(frame(3).sensor_ns + DT, abs=2)
    assert placed_samples(out) == list(range(4 * N)) + list(range(6 * N, 9 * N))


def test_swapped_pair_is_put_back_in_order() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 3, 2, 4])
    assert [type(item) for item in out if not isinstance(item, Placed)] == [Reordered]
    assert placed_samples(out) == list(range(5 * N))
    assert not any(isinstance(item, Missing) for item in out)


def test_duplicate_is_dropped_and_reported() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 1, 2])
    assert [item for item in out if isinstance(item, Repeated)] == [Repeated(frame(1).sensor_ns)]
    assert placed_samples(out) == list(range(3 * N))


def test_frame_too_late_to_recover_is_discarded_after_its_gap() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 3, 4, 2, 5])
    assert [item.samples for item in out if isinstance(item, Missing)] == [N]
    late = [item for item in out if isinstance(item, Reordered)]
    assert late == [Reordered(frame(2).sensor_ns, recovered=False)]
    assert placed_samples(out) == [*range(2 * N), *range(3 * N, 6 * N)]


def test_reconnection_bridges_on_the_strap_clock_or_restarts() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 2])
    out += seq.restart()
    out += feed(seq, [10, 11])
    assert [item.samples for item in out if isinstance(item, Missing)] == [7 * N]
    out = list(seq.restart())
    reset = EcgDataFrame(T0 + 5, np.zeros(N, dtype=np.int32))  # strap clock back to 2019-01-01
    out += seq.push(reset)
    assert isinstance(out[0], Restarted) and isinstance(out[1], Placed)


def jumped(k: int, jump_s: float) -> EcgDataFrame:
    """Frame k stamped by a strap clock that was set back by jump_s (forwards if < 0)."""
    return frame(k, T0 - round(jump_s * 1e9))


def expected(k: int) -> float:
    """Where the host clock puts frame k's last sample (a steady host, no latency)."""
    return float(frame(k).sensor_ns)


@pytest.mark.parametrize("jump_s", [1.0, 30.0, 86_400.0])
def test_a_clock_jump_backwards_keeps_every_sample_in_place(jump_s: float) -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, list(range(10)))
    for k in range(10, 20):
        out += seq.push(jumped(k, jump_s))
    out += seq.flush()
    assert placed_samples(out) == list(range(20 * N))
    assert not any(isinstance(item, (Missing, Reordered)) for item in out)
    jumps = [item for item in out if isinstance(item, Jumped)]
    assert len(jumps) == 1 and jumps[0].sensor_ns == jumped(10, jump_s).sensor_ns
    assert jumps[0].jump_ns == pytest.approx(-jump_s * 1e9, abs=DT)
    placed = [item for item in out if isinstance(item, Placed)]
    firsts = np.array([p.first_sensor_ns for p in placed[1:]])  # the first: nominal rate
    assert np.allclose(np.diff(firsts), N * DT, atol=300)  # one steady timeline, no hole
    assert seq.corrected_ns(jumped(19, jump_s).sensor_ns) == pytest.approx(
        frame(19).sensor_ns, abs=DT
    )


def test_a_straggler_behind_the_timeline_is_not_taken_for_a_jump() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 2, 3, 4, 5])
    out += seq.push(frame(2))  # a copy of an old frame is a duplicate
    out += seq.push(frame(1, T0 + 7))  # an old frame, slightly off the grid
    assert seq.held_ns == frame(1, T0 + 7).sensor_ns
    out += feed(seq, [6, 7])
    assert not any(isinstance(item, Jumped) for item in out)
    assert [item for item in out if isinstance(item, Reordered)] == [
        Reordered(frame(1, T0 + 7).sensor_ns, recovered=False)
    ]
    assert placed_samples(out) == list(range(8 * N))


def test_a_frame_held_behind_the_timeline_is_released_at_the_end() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, [0, 1, 2, 3])
    out += seq.push(frame(1, T0 + 7))
    out += seq.push(frame(1, T0 + 7))  # and its duplicate
    out += seq.flush()
    kinds = [type(item) for item in out if not isinstance(item, Placed)]
    assert kinds == [Repeated, Reordered]


def test_a_clock_jump_forwards_is_no_gap_when_the_host_saw_none() -> None:
    seq = FrameSequencer(130.0)
    out: list[object] = []
    for k in range(10):
        out += seq.push(frame(k), expected(k))
    for k in range(10, 20):
        out += seq.push(jumped(k, -30.0), expected(k))
    assert placed_samples(out) == list(range(20 * N))
    assert not any(isinstance(item, Missing) for item in out)
    jumps = [item for item in out if isinstance(item, Jumped)]
    assert len(jumps) == 1 and jumps[0].jump_ns == pytest.approx(30e9, abs=DT)


def test_frames_lost_at_a_jump_are_a_gap_of_whole_frames_on_the_host_clock() -> None:
    seq = FrameSequencer(130.0)
    out: list[object] = []
    for k in range(10):
        out += seq.push(frame(k), expected(k))
    for k in range(13, 20):  # frames 10-12 never arrived, and the clock went back 30 s
        out += seq.push(jumped(k, 30.0), expected(k) + 0.02e9)  # 20 ms of extra latency
    assert [item.samples for item in out if isinstance(item, Missing)] == [3 * N]
    assert placed_samples(out) == [*range(10 * N), *range(13 * N, 20 * N)]


def test_a_small_step_back_within_one_frame_keeps_the_samples() -> None:
    seq = FrameSequencer(130.0)
    out = feed(seq, list(range(10)))
    for k in range(10, 15):
        out += seq.push(jumped(k, 0.4))
    assert placed_samples(out) == list(range(15 * N))
    assert [type(item) for item in out if not isinstance(item, Placed)] == [Jumped]


def test_a_reconnection_the_host_clock_contradicts_is_not_bridged() -> None:
    """Ten frames lost in a link loss, during which the strap's clock was set back 5 s:
    its timestamps say 1 frame is missing, the host says 10, so the loss is left to the
    host clock (Restarted) instead of a gap of the wrong length."""
    seq = FrameSequencer(130.0)
    out: list[object] = []
    for k in range(5):
        out += seq.push(frame(k), expected(k))
    out += seq.restart()
    out += seq.push(jumped(15, 5.0), expected(15))
    assert [type(item) for item in out[5:]] == [Restarted, Placed]
    seq = FrameSequencer(130.0)
    for k in range(5):
        seq.push(frame(k), expected(k))
    seq.restart()
    bridged = seq.push(frame(15), expected(15) + 0.3e9)  # 300 ms of latency: still agrees
    bridged += seq.push(frame(16), expected(16))
    assert [item.samples for item in bridged if isinstance(item, Missing)] == [10 * N]


def test_clock_map_recovers_drift_through_latency_jitter() -> None:
    rng = random.Random(3)
    cmap = ClockMap()
    drift_ppm = 35.0
    host0 = 1_700_000_000_000_000_000
    for k in range(2000):  # ~19 minutes of frames
        sensor = frame(k).sensor_ns
        true_host = host0 + (sensor - T0) / (1 + drift_ppm * 1e-6)
        latency = 0.008e9 + rng.expovariate(1 / 0.03e9)  # BLE: a floor plus a long tail
        if k % 97 == 0:
            latency += 2.5e9  # an occasional frame held up for seconds
        cmap.observe(sensor, round(true_host + latency))
    assert cmap.drift_ppm == pytest.approx(drift_ppm, abs=3.0)
    sensor = frame(1999).sensor_ns
    expected = host0 + (sensor - T0) / (1 + drift_ppm * 1e-6)
    assert abs(cmap.to_host(sensor) - expected) < 0.02e9  # within 20 ms incl. the latency floor


def test_clock_map_inverse_puts_a_frame_back_on_the_strap_clock() -> None:
    cmap = ClockMap()
    host0 = 1_700_000_000_000_000_000
    for k in range(50):
        cmap.observe(frame(k).sensor_ns, host0 + frame(k).sensor_ns - T0 + 10_000_000)
    sensor = frame(60).sensor_ns
    assert cmap.to_sensor(cmap.to_host(sensor)) == pytest.approx(sensor, abs=2)
