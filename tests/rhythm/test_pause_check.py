"""The pause gap check: a long interval with a QRS-like deflection in it is a likely
missed beat, not a pause (`monitor.classify.pause_check`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.pause_check import GapActivity
from monitor.classify.rhythm import RhythmAnalyzer, RhythmConfig, make_beats, run_rhythm

from .helpers import FS, beats_from_rr, good_seconds, quiet_vf


def _ecg(beat_times: list[float], duration_s: float, seed: int = 0) -> np.ndarray:
    """A synthetic trace: a narrow 1 mV spike (QRS-like) at each time, a little noise."""
    t = np.arange(round(duration_s * FS)) / FS
    x = np.random.default_rng(seed).normal(0.0, 10.0, t.size)
    for bt in beat_times:
        x += 1000.0 * np.exp(-0.5 * ((t - bt) / 0.012) ** 2)
    return x


def _beats(times: list[float]) -> list:
    return make_beats(np.round(np.asarray(times) * FS).astype(np.int64), ["N"] * len(times), FS)


TIMES = [0.5 + k for k in range(20)]
MISSED = 10  # the beat at 10.5 s


def test_missed_beat_fills_the_gap_real_pause_does_not() -> None:
    detected = [t for k, t in enumerate(TIMES) if k != MISSED]
    # the beat is in the signal but not among the beats: a missed beat
    missed = GapActivity(FS, 1.5)
    missed.feed(_ecg(TIMES, 21.0))
    ((index, value),) = missed.measure(_beats(detected))
    assert index == round(TIMES[MISSED + 1] * FS)
    assert value > 0.8
    # no beat in the signal either: a real pause, the gap holds only noise
    real = GapActivity(FS, 1.5)
    real.feed(_ecg(detected, 21.0))
    ((_, quiet),) = real.measure(_beats(detected))
    assert quiet < 0.1


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, round(21 * FS)), max_size=8), beat_cut=st.integers(0, 19))
def test_chunking_changes_nothing(cuts: list[int], beat_cut: int) -> None:
    """Samples in any chunks, beats in any split (each after its samples): the same."""
    detected = [t for k, t in enumerate(TIMES) if k != MISSED]
    x = _ecg(TIMES, 21.0, seed=3)
    beats = _beats(detected)
    whole = GapActivity(FS, 1.5)
    whole.feed(x)
    want = whole.measure(beats)
    parts = GapActivity(FS, 1.5)
    got: list[tuple[int, float]] = []
    b = 0
    for a, z in zip([0, *sorted(cuts)], [*sorted(cuts), x.size], strict=True):
        parts.feed(x[a:z])
        end = b
        while end < len(beats) and beats[end].index < z and end < beat_cut + b + 1:
            end += 1
        got += parts.measure(beats[b:end])
        b = end
    got += parts.measure(beats[b:])
    assert got == want


def test_restart_measures_nothing_across_missing_samples() -> None:
    gaps = GapActivity(FS, 1.5)
    gaps.feed(_ecg(TIMES[:5], 5.0))
    gaps.measure(_beats(TIMES[:5]))
    gaps.restart(round(100 * FS))
    later = [101.0, 104.0, 105.0]
    gaps.feed(_ecg([t - 100 for t in later], 5.0))
    # the first beat after the restart has no beats before it; the next long interval
    # has only one recent beat, which is enough
    got = gaps.measure(make_beats(np.round(np.asarray(later) * FS).astype(np.int64), "NNN", FS))
    assert [i for i, _ in got] == [round(104.0 * FS)]


def _analyse(gaps: list[tuple[int, float]], config: RhythmConfig | None = None) -> list[str]:
    beats = beats_from_rr([1.0] * 8 + [2.5] + [1.0] * 8)
    analyzer = RhythmAnalyzer(config)
    events = analyzer.process(beats, good_seconds(0, 22), quiet_vf(0, 22), gaps=gaps)
    events += analyzer.flush()
    return [e.kind for e in events if e.kind == "pause"]


def test_analyzer_drops_a_pause_with_activity_in_its_gap() -> None:
    after = beats_from_rr([1.0] * 8 + [2.5] + [1.0] * 8)[9].index
    assert _analyse([]) == ["pause"]  # no signal: unchecked, as before
    assert _analyse([(after, 0.05)]) == ["pause"]  # quiet gap: a pause
    assert _analyse([(after, 0.9)]) == []  # a QRS-like deflection: a missed beat
    off = RhythmConfig(pause_missed_beat_ratio=math.inf)
    assert _analyse([(after, 0.9)], off) == ["pause"]


@pytest.mark.parametrize("record", ["108", "201"])
def test_ds1_missed_beats_go_and_reference_pauses_stay(mitdb: Path, record: str) -> None:
    """DS1 (where the ratio was chosen): 108's two long intervals are missed beats
    (reference beats in the gap); 201's reference pauses are all still reported."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import evaluate_rhythm as ev

    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / record)
    x = resample_record(ref.samples_uv, ref.fs, FS)
    beats = ev.reference_labeller(
        x, detect_qrs(x, FS), ev.RefLike(ref.fs, ref.beat_samples, ref.beat_symbols)
    )
    truth = ev.beat_truth(ref.beat_samples, ref.beat_symbols, ref.fs)["pause"]

    def pauses(config: RhythmConfig) -> list[tuple[float, float]]:
        events = run_rhythm(x, FS, beats, config)
        return [(e.start_s, e.end_s) for e in events if e.kind == "pause"]

    checked, unchecked = (
        pauses(RhythmConfig()),
        pauses(RhythmConfig(pause_missed_beat_ratio=math.inf)),
    )
    assert set(checked) <= set(unchecked)
    assert all(any(ev._overlaps(r, d) for d in checked) for r in truth)
    false = [d for d in checked if not any(ev._overlaps(d, r) for r in truth)]
    if record == "108":
        assert not truth and len(unchecked) == 2 and not false
    else:
        assert len(truth) >= 10


def test_live_stage_checks_pauses_as_the_batch_run_does(mitdb: Path) -> None:
    """`RhythmStage` (the daemon's path, odd-sized chunks, beats a chunk late) keeps and
    drops the same long intervals of DS1 record 108 as `run_rhythm`."""
    from monitor.classify.rhythm_stage import RhythmStage
    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / "108")
    x = resample_record(ref.samples_uv, ref.fs, FS)[: round(1700 * FS)]
    peaks = detect_qrs(x, FS)
    beats = make_beats(peaks, ["N"] * len(peaks), FS)
    want = [(e.start_s, e.end_s) for e in run_rhythm(x, FS, beats) if e.kind == "pause"]
    unchecked = RhythmConfig(pause_missed_beat_ratio=math.inf)
    assert len(want) < len([e for e in run_rhythm(x, FS, beats, unchecked) if e.kind == "pause"])
    stage = RhythmStage(FS)
    events = []
    step, b, start = 97, 0, 0
    while start < x.size:
        chunk = x[start : start + step]
        end = b
        while end < len(beats) and beats[end].index < start:  # (a chunk late)
            end += 1
        events += stage.process(chunk, beats[b:end]).episodes
        b, start, step = end, start + chunk.size, 97 if step == 1301 else 1301
    events += stage.flush(beats[b:]).episodes
    assert [(e.start_s, e.end_s) for e in events if e.kind == "pause"] == want
