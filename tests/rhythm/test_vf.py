"""The QRS-free VF detector: sinusoid-like VF yes, QRS rhythms no, streaming, real VF onsets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.vf import VfDetector

from .test_quality import synthetic_ecg

FS = 130.0


def run(x: np.ndarray) -> list[bool]:
    return [s.vf_like for s in VfDetector(FS).process(x)]


def test_fast_oscillation_is_vf_like_and_sinus_is_not() -> None:
    t = np.arange(int(20 * FS)) / FS
    rng = np.random.default_rng(0)
    vf = 400 * np.sin(2 * np.pi * (4.5 * t + 0.3 * np.sin(2 * np.pi * 0.2 * t)))
    vf += rng.normal(0, 20, t.size)
    assert all(run(vf)[5:])
    assert not any(run(synthetic_ecg(20)))
    assert not any(run(synthetic_ecg(20, rate_hz=2.2)))  # 132 bpm sinus tachycardia


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(0, 20 * 130), max_size=6))
def test_vf_detector_is_chunk_invariant(cuts: list[int]) -> None:
    t = np.arange(int(20 * FS)) / FS
    x = synthetic_ecg(20) + np.where(t > 10, 500 * np.sin(2 * np.pi * 5 * t), 0.0)
    whole = VfDetector(FS).process(x)
    det = VfDetector(FS)
    streamed = [s for p in np.split(x, sorted(set(cuts))) for s in det.process(p)]
    assert streamed == whole


def test_real_vf_onset_alerted_within_5_s(cudb) -> None:
    """cu01: VF from 214.2 s; the rhythm stage confirms it within 5 s, not before."""
    import wfdb

    from monitor.classify.rhythm import run_rhythm
    from monitor.signal.resample import resample_record

    rec = wfdb.rdrecord(str(cudb / "cu01"))
    x = resample_record(np.nan_to_num(rec.p_signal[:, 0]) * 1000.0, rec.fs, FS)
    events = run_rhythm(x, FS, [])
    onsets = [e.end_s for e in events if e.kind == "vf" and not e.final]
    assert onsets and not [o for o in onsets if o < 200.0]
    assert min(onsets) <= 214.2 + 5.0
