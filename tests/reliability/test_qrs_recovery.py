"""After a burst of artifact the detector must find the heart again.

Real straps see seconds of electrode motion, saturation at the 24-bit rail, or lost
samples. The burst itself may be unreadable, but a monitor that stops detecting beats
for good after one has silently failed. Record 100 of MIT-BIH (lead MLII at 130 Hz)
gets a 5-second burst after its first minute; the beats of the two minutes after a
30-second grace period are scored against the reference labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.evaluation import load_reference, score_detections
from monitor.signal.qrs import detect_qrs
from monitor.signal.resample import resample_record

from .conftest import Tally

FS = 130.0
BURST_AT_S = 60.0
BURST_S = 5.0
GRACE_S = 30.0
SCORED_S = 120.0
PMD_FULL_SCALE_UV = float(2**23 - 1)


def _burst(kind: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(100)
    if kind == "lost samples (NaN)":
        return np.full(n, np.nan)
    if kind == "5 mV electrode-motion noise":
        return rng.normal(0.0, 5000.0, n).cumsum() / 10 + rng.normal(0.0, 5000.0, n)
    if kind == "rail-to-rail saturation":
        return np.where(rng.random(n) < 0.5, -PMD_FULL_SCALE_UV, PMD_FULL_SCALE_UV)
    if kind == "flat line (leads off)":
        return np.zeros(n)
    raise AssertionError(kind)


@pytest.mark.data
@pytest.mark.parametrize(
    "kind",
    [
        "lost samples (NaN)",
        "flat line (leads off)",
        "5 mV electrode-motion noise",
        "rail-to-rail saturation",
    ],
)
def test_detection_resumes_after_a_burst(kind: str, mitdb: Path, tally: Tally) -> None:
    """Se and +P of at least 95% on the beats 30 s to 150 s after the burst ends."""
    ref = load_reference(mitdb / "100")
    x = resample_record(ref.samples_uv, ref.fs, FS)
    at, n = round(BURST_AT_S * FS), round(BURST_S * FS)
    x[at : at + n] = _burst(kind, n)
    tally.fault()
    with np.errstate(all="ignore"):
        peaks = detect_qrs(x, FS) * ref.fs / FS
    lo, hi = (
        (BURST_AT_S + BURST_S + GRACE_S) * ref.fs,
        (BURST_AT_S + BURST_S + GRACE_S + SCORED_S) * ref.fs,
    )
    reference = ref.beat_samples[(ref.beat_samples >= lo) & (ref.beat_samples < hi)]
    found = np.round(peaks[(peaks >= lo - 0.15 * ref.fs) & (peaks < hi + 0.15 * ref.fs)])
    tp, fn, fp = score_detections(reference, found.astype(np.int64), ref.fs)
    tally.note(f"{kind}: {fn} of {tp + fn} beats missed after the grace period")
    assert tp / max(1, tp + fn) >= 0.95, f"Se {tp}/{tp + fn} after {kind}"
    assert tp / max(1, tp + fp) >= 0.95, f"+P {tp}/{tp + fp} after {kind}"
