"""A real annotated record (MIT-BIH 100, read by path) through the virtual strap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.ble.events import Gap, HeartRate, SessionState
from monitor.ble.session import SessionConfig
from monitor.ble.virtual import VirtualStrap
from monitor.recording import import_wfdb, load_recording
from monitor.signal.resample import resample_record
from tests.ble.helpers import N, run_session


@pytest.mark.data
def test_mitdb_100_replays_sample_exact_with_its_heart_rate(mitdb: Path) -> None:
    record = str(mitdb / "100")
    vstrap = VirtualStrap.from_recording(record, speed=100.0)
    run = run_session(vstrap, SessionConfig(scan_timeout_s=3.0), limit_s=3 * 3600)
    assert run.states().count(SessionState.STREAMING) == 1 and not run.of(Gap)

    loaded = load_recording(record)
    expected = np.clip(np.rint(resample_record(loaded.samples_uv, loaded.fs, 130.0)),
                       -20000, 20000)
    frames = len(expected) // N
    np.testing.assert_array_equal(run.samples(), expected[: frames * N])

    # the strap's own heart rate agrees with the cardiologists' beat labels
    wfdb = import_wfdb("reading annotations")
    ann = wfdb.rdann(record, "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True)
                      if sym in "NLRBAaJSVEFejnQ/f"]) / loaded.fs
    reference_bpm = 60.0 / float(np.median(np.diff(beats)))
    strap_bpm = float(np.median([h.bpm for h in run.of(HeartRate) if h.bpm]))
    assert strap_bpm == pytest.approx(reference_bpm, abs=3.0)
    rr = np.array([v for h in run.of(HeartRate) for v in h.rr_s])
    assert float(np.median(rr)) == pytest.approx(float(np.median(np.diff(beats))), abs=0.03)
