"""The vectorised signal-quality stage gives the same verdicts as the one-second-at-a-time
reference (tests/signal/quality_reference.py, the implementation it replaced).

Same verdicts means equal `QualitySecond`s: index, readable, reason and the three
rounded measures, for every second, whatever the chunking on either side. The inputs
are real records (noise stress, ventricular fibrillation, noisy ambulatory ECG) and
generated ones with every unreadable cause (missing samples, flat line, clipping,
wander, noise, infinities) at several sample rates, cut into random chunks.
"""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.signal import quality
from monitor.signal.quality import QualitySecond, SignalQuality

from . import quality_reference as reference

WORKING_FS = 130.0


def streamed(
    stage: SignalQuality | reference.SignalQuality, x: np.ndarray, cuts: list[int]
) -> list[QualitySecond]:
    out: list[QualitySecond] = []
    for piece in np.split(x, sorted(set(cuts))):
        out += stage.process(piece)
    return out + stage.flush()


def synthetic(seconds: float, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Spiky beats at a random rate with P/T waves, baseline and noise, in uV."""
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    rate = rng.uniform(0.6, 3.0)
    for beat in np.arange(rng.uniform(0, 0.5), seconds, 1.0 / rate):
        x += rng.uniform(300, 2500) * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
        x += 250.0 * np.exp(-0.5 * ((t - beat - 0.28) / 0.05) ** 2)
    return x + rng.uniform(-500, 500) + rng.normal(0.0, rng.uniform(1, 30), t.size)


def damage(x: np.ndarray, fs: float, rng: np.random.Generator, kinds: list[str]) -> np.ndarray:
    """Overlay each unreadable cause on a random stretch."""
    x = x.copy()
    for kind in kinds if x.size else []:
        a = int(rng.integers(0, x.size))
        b = min(x.size, a + int(rng.integers(1, int(8 * fs))))
        if kind == "nan":
            x[a:b] = np.nan
        elif kind == "inf":
            x[a:b:7] = rng.choice([np.inf, -np.inf])
        elif kind == "flat":
            x[a:b] = rng.uniform(-100, 100)
        elif kind == "clip":
            x[a:b] = np.clip(x[a:b] + rng.uniform(2000, 6000), None, 5000.0)
        elif kind == "wander":
            x[a:b] += 6000.0 * np.sin(2 * np.pi * 0.5 * np.arange(b - a) / fs)
        elif kind == "noise":
            x[a:b] += rng.normal(0, rng.uniform(50, 2000), b - a)
        elif kind == "muscle":
            x[a:b] += rng.normal(0, 300, b - a) * (np.arange(b - a) % 2 * 2 - 1)
        elif kind == "steps":
            x[a:b] = np.round(x[a:b] / 400.0) * 400.0
    return x


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    fs=st.sampled_from([WORKING_FS, 130.0, 101.0, 250.0]),
    seconds=st.floats(0.0, 16.0),
    kinds=st.lists(
        st.sampled_from(["nan", "inf", "flat", "clip", "wander", "noise", "muscle", "steps"]),
        max_size=4,
    ),
    cuts=st.lists(st.integers(0, 16 * 250), max_size=10),
    ref_cuts=st.lists(st.integers(0, 16 * 250), max_size=3),
)
def test_same_verdicts_as_reference_on_generated_ecg(
    seed: int, fs: float, seconds: float, kinds: list[str], cuts: list[int], ref_cuts: list[int]
) -> None:
    rng = np.random.default_rng(seed)
    x = damage(synthetic(seconds, fs, rng), fs, rng, kinds)
    expected = streamed(reference.SignalQuality(fs), x, ref_cuts)
    assert streamed(SignalQuality(fs), x, cuts) == expected


@settings(max_examples=60, deadline=None)
@given(
    frame=st.integers(1, 400),
    seconds=st.integers(0, 12),
    tail=st.integers(0, 129),
)
def test_same_verdicts_fed_in_equal_frames(frame: int, seconds: int, tail: int) -> None:
    """Strap-sized frames (73 samples on a Polar H10) and odd sizes, partial last second."""
    rng = np.random.default_rng(frame * 100 + seconds)
    x = damage(
        synthetic(seconds + tail / WORKING_FS, WORKING_FS, rng), WORKING_FS, rng, ["noise", "nan"]
    )
    cuts = list(range(frame, x.size, frame))
    expected = reference.assess_quality(x, WORKING_FS)
    assert streamed(SignalQuality(WORKING_FS), x, cuts) == expected


@pytest.mark.parametrize(("measure_block", "judge_block"), [(1, 1), (3, 2), (7, 64)])
def test_block_sizes_do_not_change_verdicts(
    measure_block: int, judge_block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long chunk is measured MEASURE_BLOCK seconds and judged JUDGE_BLOCK windows at a
    time; small blocks put many block edges inside one chunk."""
    monkeypatch.setattr(quality, "MEASURE_BLOCK", measure_block)
    monkeypatch.setattr(quality, "JUDGE_BLOCK", judge_block)
    rng = np.random.default_rng(measure_block)
    x = damage(synthetic(40.5, WORKING_FS, rng), WORKING_FS, rng, ["clip", "nan", "noise"])
    assert quality.assess_quality(x, WORKING_FS) == reference.assess_quality(x, WORKING_FS)


def test_every_path_is_exercised_by_the_generated_cases() -> None:
    """The generated damage does produce every reason (so the comparison covers them)."""
    rng = np.random.default_rng(7)
    seen: Counter[str | None] = Counter()
    for kind in ["nan", "flat", "clip", "wander", "noise"]:
        x = damage(synthetic(30, WORKING_FS, rng), WORKING_FS, rng, [kind] * 3)
        got = quality.assess_quality(x, WORKING_FS)
        assert got == reference.assess_quality(x, WORKING_FS)
        seen.update(q.reason for q in got)
    assert set(seen) >= {None, *quality.REASONS}, seen


@pytest.mark.parametrize("cut", [None, 643, 644, 650, 652, 656])
def test_a_clipped_run_is_carried_across_seconds_and_chunks(cut: int | None) -> None:
    """12 samples at the rail, 6 before and 6 after the start of second 5: only the run
    carried over from second 4 makes second 5 a saturation (>= 0.08 s at 130 Hz)."""
    x = synthetic(10, WORKING_FS, np.random.default_rng(11))
    x[644:656] = 5000.0
    cuts = [] if cut is None else [cut]
    got = streamed(SignalQuality(WORKING_FS), x, cuts)
    assert got == reference.assess_quality(x, WORKING_FS)
    assert got[5].reason == "saturation"
    assert got[4].reason != "saturation"


def test_a_stage_after_flush_starts_a_new_stream() -> None:
    """`flush` ends the stream: the next one is judged from a fresh stage (as the daemon
    does after a reconnect), and an empty stage flushes to nothing."""
    rng = np.random.default_rng(3)
    x = synthetic(12, WORKING_FS, rng)
    assert SignalQuality(WORKING_FS).flush() == []
    assert SignalQuality(WORKING_FS).process(np.empty(0)) == []
    first = quality.assess_quality(x, WORKING_FS)
    assert [q.index for q in first] == list(range(12))
    assert first == reference.assess_quality(x, WORKING_FS)


def load(path: Path, fs: float = WORKING_FS) -> np.ndarray:
    from monitor.evaluation import load_reference
    from monitor.signal.resample import resample_record

    ref = load_reference(path)
    return resample_record(ref.samples_uv, ref.fs, fs)


@pytest.mark.data
@pytest.mark.parametrize(
    ("database", "record"),
    [("mitdb", "105"), ("mitdb", "207"), ("nstdb", "118e_6"), ("cudb", "cu01")],
)
def test_same_verdicts_as_reference_on_real_records(
    database: str, record: str, request: pytest.FixtureRequest
) -> None:
    """105: very noisy; 207: flutter and long unreadable stretches; 118e_6: electrode
    motion at -6 dB; cu01: ventricular fibrillation with saturation and flat line."""
    folder: Path = request.getfixturevalue(database)
    x = load(folder / record)
    cuts = list(np.random.default_rng(zlib.crc32(record.encode())).integers(0, x.size, 400))
    expected = reference.assess_quality(x, WORKING_FS)
    got = streamed(SignalQuality(WORKING_FS), x, cuts)
    assert got == expected
    assert len(got) == round(x.size / WORKING_FS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    seconds=st.floats(0.0, 30.0),
    kinds=st.lists(st.sampled_from(["nan", "flat", "clip", "wander", "noise"]), max_size=4),
    cuts=st.lists(st.integers(0, 30 * 130), max_size=10),
    blocks=st.sampled_from([(1, 1), (3, 2), (600, 64)]),
)
def test_adaptive_limit_same_as_reference_with_short_history(
    seed: int,
    seconds: float,
    kinds: list[str],
    cuts: list[int],
    blocks: tuple[int, int],
) -> None:
    """The running level the peak-ratio limit adapts to, with a history of seconds
    instead of minutes so that generated streams reach it: the same verdicts as the
    reference whatever the chunks and blocks (the level is carried across both, and
    seconds without a signal stay out of it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quality, "ADAPT_FACTOR", 1.5)
        patch.setattr(quality, "ADAPT_WINDOW_S", 7)
        patch.setattr(quality, "ADAPT_MIN_S", 3)
        patch.setattr(quality, "ADAPT_EVERY_S", 2)
        patch.setattr(quality, "MEASURE_BLOCK", blocks[0])
        patch.setattr(quality, "JUDGE_BLOCK", blocks[1])
        rng = np.random.default_rng(seed)
        x = damage(synthetic(seconds, WORKING_FS, rng), WORKING_FS, rng, kinds)
        expected = reference.assess_quality(x, WORKING_FS)
        assert streamed(SignalQuality(WORKING_FS), x, cuts) == expected
