"""AF across a short unreadable gap: the gap is not AF seen (`RhythmConfig.af_gap_counts`).

The analyzer keeps its AF window across an unreadable stretch shorter than
``bridge_s``; an AF episode not yet confirmed is dropped at the gap and a new one opens
after it. Counting the unreadable time towards the 30 s let a piece of a few seconds
after the gap be reported as confirmed AF (record 107, paced, its beats called N as the
beat classifier does: two "AF episodes" of 0 s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monitor.classify.rhythm import Episode, RhythmAnalyzer, RhythmConfig, make_beats, run_rhythm

from .helpers import FS, bad_seconds, beats_from_rr, good_seconds, quiet_vf

OLD = RhythmConfig(af_gap_counts=True)
"""The behaviour before: the gap counted towards the 30 s."""


def af_finals(events: list[Episode]) -> list[Episode]:
    return [e for e in events if e.kind == "af" and e.final]


def run_with_gap(rr: list[float], gap: tuple[int, int], config: RhythmConfig) -> list[Episode]:
    """Beats after the intervals `rr` (all N), the seconds in `gap` unreadable."""
    beats = beats_from_rr(rr)
    seconds = int(beats[-1].time_s) + 2
    quality = {q.index: q for q in good_seconds(0, seconds)}
    quality.update({q.index: q for q in bad_seconds(*gap)})
    analyzer = RhythmAnalyzer(config)
    events = analyzer.process(
        beats, sorted(quality.values(), key=lambda q: q.index), quiet_vf(0, seconds)
    )
    return events + analyzer.flush()


def irregular_then_regular(af_s: float, seed: int = 3) -> list[float]:
    """AF-like intervals (uniform 0.45-1.05 s) for `af_s`, then 40 s at 0.8 s."""
    rng = np.random.default_rng(seed)
    rr: list[float] = []
    while sum(rr) < af_s:
        rr.append(float(rng.uniform(0.45, 1.05)))
    return rr + [0.8] * 50


def test_a_gap_in_unconfirmed_af_does_not_count_towards_its_30_s() -> None:
    # 28 s of irregular RR, 6 s of it unreadable (14-20 s): 22 s of AF seen.
    rr = irregular_then_regular(28.0)
    old = af_finals(run_with_gap(rr, (14, 20), OLD))
    # (before: the piece after the gap was reported, far shorter than 30 s)
    assert len(old) == 1 and old[0].start_s >= 20.0 and old[0].duration_s < 15.0
    assert af_finals(run_with_gap(rr, (14, 20), RhythmConfig())) == []


def test_af_going_on_after_a_gap_is_confirmed_once_30_s_were_seen() -> None:
    rr = irregular_then_regular(80.0)
    events = run_with_gap(rr, (14, 20), RhythmConfig())
    af = af_finals(events)
    assert len(af) == 1 and af[0].start_s >= 20.0 and af[0].duration_s > 45.0
    onset = [e for e in events if e.kind == "af" and not e.final]
    # (30 s of AF seen: 14 s before the gap at most, so at least 16 s after it)
    assert onset and onset[0].end_s >= 20.0 + 16.0


def test_af_confirmed_before_a_gap_goes_on_at_once_after_it() -> None:
    rr = irregular_then_regular(70.0)
    events = run_with_gap(rr, (50, 53), RhythmConfig())
    af = af_finals(events)
    assert len(af) == 2 and af[0].end_s <= 50.0 and af[1].start_s >= 53.0
    onset = [e for e in events if e.kind == "af" and not e.final and e.id == af[1].id]
    assert onset and onset[0].end_s - af[1].start_s < 5.0


def test_paced_record_107_labelled_normal_has_no_af(mitdb: Path) -> None:
    """MIT-BIH 107 (paced, never AF), every detected beat labelled N as the beat
    classifier labels most paced beats: its RR jitter and absent P waves make AF
    stretches of under 30 s broken by short unreadable gaps; none is AF."""
    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / "107")
    x = resample_record(ref.samples_uv, ref.fs, FS)
    peaks = detect_qrs(x, FS)
    beats = make_beats(peaks, ["N"] * len(peaks), FS)
    old = af_finals(run_rhythm(x, FS, beats, OLD))
    assert old and all(e.duration_s < 30.0 for e in old)
    assert af_finals(run_rhythm(x, FS, beats)) == []
