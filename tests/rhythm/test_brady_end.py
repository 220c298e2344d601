"""Sinus bradycardia ends only after the rate has been back above the limit for
``brady_end_s``: a pause or a few faster beats inside it do not split the episode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.beat import ClassifiedBeat
from monitor.classify.rhythm import (
    Episode,
    RhythmAnalyzer,
    RhythmConfig,
    final_episodes,
    make_beats,
    run_rhythm,
)

from .helpers import FS, beats_from_rr, good_seconds, quiet_vf, reference_labels

SLOW = 1.4  # 43/min
BURST = [SLOW] * 30 + [0.8] * 8 + [SLOW] * 30
"""Slow, 8 beats at 75/min (the 8-beat rate is above 52/min for 9.6 s), slow again."""


def _events(
    beats: list[ClassifiedBeat], config: RhythmConfig | None = None, cuts: Sequence[float] = ()
) -> list[Episode]:
    """All events, the beats and second verdicts fed up to each cut in turn."""
    seconds = int(beats[-1].time_s) + 3
    analyzer = RhythmAnalyzer(config)
    out: list[Episode] = []
    b = k = 0
    for cut in [*sorted(cuts), seconds]:
        end = next((i for i, x in enumerate(beats) if x.time_s >= cut), len(beats))
        upto = max(k, min(seconds, int(cut)))
        out += analyzer.process(beats[b:end], good_seconds(k, upto), quiet_vf(k, upto))
        b, k = max(b, end), upto
    out += analyzer.process(beats[b:], good_seconds(k, seconds), quiet_vf(k, seconds))
    return out + analyzer.flush()


def _brady(events: list[Episode]) -> list[tuple[float, float]]:
    return [(e.start_s, e.end_s) for e in final_episodes(events) if e.kind == "brady"]


def test_a_short_faster_stretch_does_not_split_it() -> None:
    beats = beats_from_rr(BURST)
    assert len(_brady(_events(beats, RhythmConfig(brady_end_s=0.0)))) == 2
    (one,) = _brady(_events(beats))
    assert one[0] < 30 * SLOW < one[1] and one[1] > beats[-1].time_s - 1.0


def test_a_lasting_return_ends_it_where_the_rate_rose() -> None:
    beats = beats_from_rr([SLOW] * 30 + [0.8] * 40)
    assert _brady(_events(beats)) == _brady(_events(beats, RhythmConfig(brady_end_s=0.0)))
    assert len(_brady(_events(beats))) == 1


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.floats(0.0, 100.0), max_size=6))
def test_chunking_changes_nothing(cuts: list[float]) -> None:
    beats = beats_from_rr(BURST + [0.8] * 12 + [SLOW] * 12)
    assert _events(beats, cuts=cuts) == _events(beats)


def test_record_232_merges_and_loses_no_brady_time(mitdb: Path) -> None:
    """232 (sinus bradycardia broken by long pauses; reference classes): the debounce
    only joins episodes, so every episode of the old rule lies inside a new one."""
    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / "232")
    x = resample_record(ref.samples_uv, ref.fs, FS)
    peaks = detect_qrs(x, FS)
    beats = make_beats(peaks, reference_labels(ref, peaks), FS)
    old = _brady(run_rhythm(x, FS, beats, RhythmConfig(brady_end_s=0.0)))
    new = _brady(run_rhythm(x, FS, beats))
    assert old and len(new) <= len(old)
    assert all(any(a <= s0 and e0 <= b for a, b in new) for s0, e0 in old)
