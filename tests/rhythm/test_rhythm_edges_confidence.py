"""AF episode edges at the irregular intervals, no sinus bradycardia during AF, unsure
ectopic calls make no runs or patterns, and the sorted running window behind the AF
statistic."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.rhythm import (
    Episode,
    RhythmAnalyzer,
    RhythmConfig,
    _Window,
    final_episodes,
    make_beats,
)

from .helpers import FS, beats_from_rr, ectopic_rr, good_seconds, kinds, quiet_vf


def analyse(beats, config: RhythmConfig | None = None) -> list[Episode]:
    seconds = int(beats[-1].time_s) + 2
    analyzer = RhythmAnalyzer(config)
    return (
        analyzer.process(beats, good_seconds(0, seconds), quiet_vf(0, seconds)) + analyzer.flush()
    )


def test_af_episode_starts_and_ends_at_the_irregular_intervals() -> None:
    """The window's median crosses the threshold several beats after AF starts or
    stops; the episode edges still land within one beat of the true ones."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        rr = [0.8] * 60 + list(rng.uniform(0.45, 1.15, 120)) + [0.8] * 60
        beats = beats_from_rr(rr)
        onset, offset = beats[60].time_s, beats[180].time_s
        af = [e for e in final_episodes(analyse(beats)) if e.kind == "af"]
        assert len(af) == 1
        assert abs(af[0].start_s - onset) <= 1.0
        assert abs(af[0].end_s - offset) <= 1.0


def test_af_episodes_never_overlap() -> None:
    rng = np.random.default_rng(7)
    burst = lambda: list(rng.uniform(0.45, 1.15, 70))  # noqa: E731
    rr = [0.8] * 40 + burst() + [0.8] * 12 + burst() + [0.8] * 40
    af = [e for e in final_episodes(analyse(beats_from_rr(rr))) if e.kind == "af"]
    assert af
    for a, b in itertools.pairwise(af):
        assert a.end_s <= b.start_s


def test_slow_af_is_not_sinus_bradycardia() -> None:
    rng = np.random.default_rng(3)
    slow_af = list(rng.uniform(0.9, 1.7, 90))  # irregular, about 47/min
    events = analyse(beats_from_rr(slow_af))
    assert "af" in kinds(events) and "brady" not in kinds(events)
    slow_sinus = [1.3] * 40  # 46/min
    assert "brady" in kinds(analyse(beats_from_rr(slow_sinus)))


def _labelled(labels: str, confidences: list[float], rr: float = 0.8):
    beats = beats_from_rr(ectopic_rr(labels, rr), labels)
    peaks = np.array([b.index for b in beats])
    return make_beats(peaks, list(labels), FS, confidences=confidences)


def test_unsure_ectopic_calls_make_no_runs_or_patterns() -> None:
    labels = "N" * 6 + "VV" + "N" * 6 + "NVNVNVNVNV" + "N" * 6
    sure = [0.99] * len(labels)
    assert {"couplet", "bigeminy"} <= set(kinds(analyse(_labelled(labels, sure))))
    unsure = [0.6 if c == "V" else 0.99 for c in labels]
    assert not {"couplet", "bigeminy"} & set(kinds(analyse(_labelled(labels, unsure))))
    # One unsure call splits a run: VVVV with the third unsure leaves a couplet.
    run = "N" * 6 + "VVVV" + "N" * 6
    conf = [0.99] * len(run)
    conf[8] = 0.5
    fast = _labelled(run, conf, rr=0.5)
    assert kinds(analyse(fast)) == ["couplet"]
    # With the cut off (reference labels have confidence 1 anyway) it is a run again.
    assert kinds(analyse(fast, RhythmConfig(ectopy_min_confidence=0.0))) == ["nsvt"]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=80),
    st.integers(1, 20),
    st.integers(0, 40),
)
def test_running_window_median_matches_a_sort(values, maxlen, stale) -> None:
    window = _Window(maxlen)
    for ordinal, value in enumerate(values):
        window.push(ordinal, value)
        window.expire(ordinal - stale)
        kept = [
            v for o, v in list(enumerate(values))[: ordinal + 1][-maxlen:] if o >= ordinal - stale
        ]
        assert window.ordered == sorted(kept)
        if kept:
            assert window.median() == statistics.median(kept)
