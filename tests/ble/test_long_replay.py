"""A 30-minute replay at high speed: every sample exactly once, in order, gaps exactly
where frames were dropped (virtual time: runs in seconds, identically every time)."""

from __future__ import annotations

import numpy as np

from monitor.ble.events import DuplicateFrame, Gap, OutOfOrderFrame, SessionState
from monitor.ble.virtual import Faults
from tests.ble.helpers import N, expected_samples, run_session, strap


def test_thirty_minutes_every_sample_once_in_order() -> None:
    total = 30 * 60 * 130 // N  # 3205 frames of 73 samples
    drops = set(range(37, total, 101))
    duplicates = {500, 1500, 2500}
    swaps = {800, 1800, 2800}
    faults = Faults(drop=frozenset(drops), duplicate=frozenset(duplicates),
                    reorder=frozenset(swaps))
    vstrap = strap(30 * 60, faults, speed=60.0)
    run = run_session(vstrap)

    assert run.states().count(SessionState.STREAMING) == 1  # no spurious reconnects
    kept = [k for k in range(total) if k not in drops]
    np.testing.assert_array_equal(run.samples(), expected_samples(vstrap, kept))
    expected_gaps = [(kept.index(k + 1) * N, N) for k in sorted(drops) if k + 1 < total]
    assert [(run.before(g), g.samples) for g in run.of(Gap)] == expected_gaps
    assert len(run.of(DuplicateFrame)) == len(duplicates)
    assert [o.recovered for o in run.of(OutOfOrderFrame)] == [True] * len(swaps)
    assert abs(run.session.drift_ppm) < 0.5
