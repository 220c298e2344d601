"""Frame sequencing and clock mapping, on hand-built frames (no Bluetooth)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monitor.ble.pmd import EcgDataFrame
from monitor.ble.timing import (
    ClockMap,
    FrameSequencer,
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
    return EcgDataFrame(t0 + round(((k + 1) * N - 1) * DT),
                        np.arange(k * N, (k + 1) * N, dtype=np.int32))


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
