"""The quality stage fed the pipeline's ECG-filtered samples as its 0.5-40 Hz band gives
the same verdicts as when it filters them itself (and as the reference stage).

The pipeline hands the classifier's filtered trace to the rhythm layer so the quality
stage does not run the same filter again; that is only right if the ECG filter's output
is the stage's band to the bit, including lost samples, absurd values and any chunking.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.classify.rhythm_stage import RhythmStage
from monitor.frame import EcgFrame
from monitor.pipeline import Pipeline
from monitor.signal.filters import ecg_filter
from monitor.signal.quality import QualitySecond, SignalQuality, assess_quality

from . import quality_reference as reference
from .test_quality_fast import WORKING_FS, damage, synthetic


def with_band(stage: SignalQuality, x: np.ndarray, cuts: list[int]) -> list[QualitySecond]:
    """Feed x in pieces, each with its output of one streaming ECG filter."""
    filt = ecg_filter(stage.fs)
    out: list[QualitySecond] = []
    for piece in np.split(x, sorted(set(cuts))):
        out += stage.process(piece, filt.process(piece))
    return out + stage.flush()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    fs=st.sampled_from([WORKING_FS, 101.0, 250.0]),
    seconds=st.floats(0.0, 16.0),
    kinds=st.lists(
        st.sampled_from(["nan", "inf", "flat", "clip", "wander", "noise", "muscle", "steps"]),
        max_size=4,
    ),
    cuts=st.lists(st.integers(0, 16 * 250), max_size=10),
)
def test_given_band_gives_the_same_verdicts(
    seed: int, fs: float, seconds: float, kinds: list[str], cuts: list[int]
) -> None:
    rng = np.random.default_rng(seed)
    x = damage(synthetic(seconds, fs, rng), fs, rng, kinds)
    if rng.random() < 0.3 and x.size:
        x[rng.integers(0, x.size, 3)] = rng.choice([1e300, -5.4e15, 2.0**24])
    expected = reference.assess_quality(x, fs)
    assert assess_quality(x, fs) == expected
    assert with_band(SignalQuality(fs), x, cuts) == expected


def test_band_with_every_chunk_or_none() -> None:
    x = synthetic(5, WORKING_FS, np.random.default_rng(1))
    stage = SignalQuality(WORKING_FS)
    stage.process(x[:200], ecg_filter(WORKING_FS).process(x[:200]))
    with pytest.raises(ValueError, match="every chunk"):
        stage.process(x[200:400])
    stage = SignalQuality(WORKING_FS)
    stage.process(x[:200])
    with pytest.raises(ValueError, match="every chunk"):
        stage.process(x[200:400], x[200:400])
    with pytest.raises(ValueError, match="band samples"):
        SignalQuality(WORKING_FS).process(x[:200], x[:100])


def test_pipeline_quality_is_the_stage_on_its_own_across_a_gap() -> None:
    """The pipeline passes its filtered trace; after a gap both restart together."""
    rng = np.random.default_rng(5)
    fs = WORKING_FS
    first = damage(synthetic(23.4, fs, rng), fs, rng, ["noise", "nan", "clip"])
    second = damage(synthetic(17.0, fs, rng), fs, rng, ["flat", "inf"])
    layer = RhythmStage(fs)
    pipeline = Pipeline(rhythm=layer, fs=fs)
    got = []
    t0 = 0
    for part in (first, second):
        for piece in np.array_split(part, 7):
            got += pipeline.process(EcgFrame(t0, fs, piece)).quality
        if part is first:
            got += pipeline.gap(3.0).quality
    assert layer._quality._given_band  # the band came from the pipeline
    got += pipeline.flush().quality
    resume = int(np.ceil(first.size / fs + 3.0))
    expected = reference.assess_quality(first, fs) + [
        QualitySecond(q.index + resume, q.readable, q.reason, q.kurtosis, q.peak_ratio, q.hf_share)
        for q in reference.assess_quality(second, fs)
    ]
    assert got == expected
