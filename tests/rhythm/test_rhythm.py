"""Rhythm episodes: each rule on synthetic beat streams, the quality gate, gaps and
reconnects, chunking invariance, and real MIT-BIH records for each rhythm."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.alerts import AlertManager
from monitor.classify.rhythm import Episode, RhythmAnalyzer, final_episodes

from .helpers import (
    bad_seconds,
    beats_from_rr,
    ectopic_rr,
    good_seconds,
    kinds,
    overlap_s,
    quiet_vf,
    reference_intervals,
    run_mitdb,
    vf_quality,
    vf_seconds,
)


def analyse(beats, seconds: int, bad=(), vf=()) -> list[Episode]:
    """All events for `beats` over `seconds` s; `bad`: (first, last, reason) unreadable spans."""
    quality = {q.index: q for q in good_seconds(0, seconds)}
    for first, last, reason in bad:
        quality.update({q.index: q for q in bad_seconds(first, last, reason)})
    vfs = {v.index: v for v in quiet_vf(0, seconds)}
    for first, last in vf:
        vfs.update({v.index: v for v in vf_seconds(first, last)})
        quality.update({q.index: q for q in vf_quality(first, last)})
    analyzer = RhythmAnalyzer()
    return (
        analyzer.process(
            beats,
            sorted(quality.values(), key=lambda q: q.index),
            sorted(vfs.values(), key=lambda v: v.index),
        )
        + analyzer.flush()
    )


def irregular_rr(n: int, seed: int = 0) -> list[float]:
    return list(np.random.default_rng(seed).uniform(0.4, 1.1, n))


def test_pause_is_reported_with_its_evidence() -> None:
    beats = beats_from_rr([0.8] * 20 + [2.6] + [0.8] * 10)
    pauses = [e for e in analyse(beats, 30) if e.kind == "pause"]
    assert len(pauses) == 1
    assert pauses[0].evidence.rr_s == (2.6,)
    assert pauses[0].evidence.beat_indices == (beats[20].index, beats[21].index)
    assert abs(pauses[0].start_s - beats[20].time_s) < 1e-9


def test_single_pause_at_start_up() -> None:
    """The very first interval can be a pause; a late first beat is not one."""
    assert kinds(analyse(beats_from_rr([2.5] + [0.8] * 10), 15)) == ["pause"]
    assert "pause" not in kinds(analyse(beats_from_rr([0.8] * 10, start_s=4.0), 15))


def test_brady_and_tachy_use_the_configured_limits() -> None:
    slow = [e for e in analyse(beats_from_rr([1.25] * 40), 55) if e.final]
    assert [e.kind for e in slow] == ["brady"] and slow[0].evidence.measure == 48.0
    # 55/min is below the old 60/min convention, not below the 2018 guideline's 50/min.
    assert kinds(analyse(beats_from_rr([60 / 55] * 40), 50)) == []
    fast = [e for e in analyse(beats_from_rr([0.5] * 60), 35) if e.final]
    assert [e.kind for e in fast] == ["tachy"]
    assert kinds(analyse(beats_from_rr([0.8] * 60), 55)) == []


def test_ventricular_runs() -> None:
    labels = "N" * 10 + "VV" + "N" * 5 + "VVV" + "N" * 5 + "VVVVV" + "N" * 6
    events = analyse(beats_from_rr(ectopic_rr(labels, 0.7), labels), 30)
    assert kinds(events) == ["couplet", "triplet", "nsvt"]
    long_run = "N" * 5 + "V" * 90 + "N" * 5
    events = analyse(beats_from_rr(ectopic_rr(long_run, 0.7), long_run), 45)
    onset = [e for e in events if e.kind == "vt" and not e.final]
    assert len(onset) == 1 and abs(onset[0].duration_s - 30.0) < 0.5
    assert "tachy" not in kinds(events)  # V-V intervals are not a sinus rate


def test_bigeminy_trigeminy_and_a_lone_ectopic_beat() -> None:
    big = "NNNN" + "VN" * 6 + "NNNN"
    assert kinds(analyse(beats_from_rr([0.8] * (len(big) - 1), big), 25)) == ["bigeminy"]
    tri = "NNNN" + "NVN" * 5 + "NNNN"
    assert kinds(analyse(beats_from_rr([0.8] * (len(tri) - 1), tri), 25)) == ["trigeminy"]
    lone = "N" * 10 + "V" + "N" * 10
    events = analyse(beats_from_rr([0.8] * (len(lone) - 1), lone), 25)
    assert events == [] and AlertManager().process(events) == []


def test_af_from_irregular_rr_but_not_from_ectopy() -> None:
    beats = beats_from_rr(irregular_rr(150))
    af = [e for e in analyse(beats, 125) if e.kind == "af" and e.final]
    assert len(af) == 1 and af[0].duration_s > 0.8 * (beats[-1].time_s - beats[0].time_s)
    # A classifier may call many AF beats S (they look premature): still AF.
    rng_labels = np.random.default_rng(3).random(len(beats)) < 0.4
    relabelled = beats_from_rr(irregular_rr(150), ["S" if s else "N" for s in rng_labels])
    af = [e for e in analyse(relabelled, 125) if e.kind == "af" and e.final]
    assert len(af) == 1
    # Sinus rhythm with frequent premature ventricular beats: irregular, explained.
    rng = np.random.default_rng(1)
    rr, labels = [], ["N"]
    for i in range(150):
        premature = i % 5 == 4  # the interval before a V beat; a compensatory one follows
        rr.append(0.5 if premature else (1.3 if i % 5 == 0 and i else 0.85 + rng.normal(0, 0.01)))
        labels.append("V" if premature else "N")
    events = analyse(beats_from_rr(rr, labels), 140)
    assert "af" not in kinds(events) and "af" not in kinds(events, final=False)


def test_unreadable_stretch_is_reported_and_gates_everything() -> None:
    beats = beats_from_rr(irregular_rr(200, seed=2))
    # Beats keep coming through the noise (some of them spurious): none may count.
    events = analyse(beats, 160, bad=[(60, 75, "noise")])
    unreadable = [e for e in events if e.kind == "unreadable"]
    assert [(u.start_s, u.end_s, u.reason) for u in unreadable] == [(60.0, 75.0, "noise")]
    for e in events:
        if e.kind != "unreadable":
            assert e.end_s <= 60.0 or e.start_s >= 75.0
    assert "pause" not in kinds(events)


def test_leads_off_gives_no_pause_and_no_alert() -> None:
    rr = [0.8] * 20 + [12.0] + [0.8] * 20
    events = analyse(beats_from_rr(rr), 50, bad=[(17, 28, "flat line (leads off?)")])
    assert kinds(events) == ["unreadable"]
    assert events[0].reason == "flat line (leads off?)"
    assert AlertManager().process(events) == []


def _with_gap(rr_before: list[float], gap_s: float, rr_after: list[float]):
    first = beats_from_rr(rr_before)
    second = beats_from_rr(rr_after, start_s=first[-1].time_s + gap_s)
    from dataclasses import replace

    second[0] = replace(second[0], rr_before_s=None)  # the stream restarts after the gap
    first[-1] = replace(first[-1], rr_after_s=None)
    return first + second


def test_af_straddling_a_data_gap() -> None:
    """A 20 s hole in the data: no rhythm inside it, AF before and after, one alert."""
    beats = _with_gap(irregular_rr(90, 3), 20.0, irregular_rr(90, 4))
    gap_from = int(np.floor(beats[90].time_s)) + 1  # beats[90]: the last before the gap
    gap_to = int(np.floor(beats[91].time_s))
    analyzer = RhythmAnalyzer()
    quality = good_seconds(0, gap_from) + good_seconds(gap_to, 160)
    vf = quiet_vf(0, gap_from) + quiet_vf(gap_to, 160)
    events = analyzer.process(beats, quality, vf) + analyzer.flush()
    af = [e for e in final_episodes(events) if e.kind == "af"]
    assert len(af) == 2
    assert af[0].end_s <= gap_from and af[1].start_s >= gap_to
    gaps = [e for e in events if e.kind == "unreadable"]
    assert [(g.start_s, g.end_s, g.reason) for g in gaps] == [
        (float(gap_from), float(gap_to), "no data (gap in the stream)")
    ]
    assert "pause" not in kinds(events)
    alerts = AlertManager().process(events)
    assert [a.kind for a in alerts] == ["af"]


def test_strap_reconnect_in_the_middle_of_af() -> None:
    """A 4 s reconnect: AF resumes at once (no new 30 s wait) and is not re-alerted."""
    beats = _with_gap(irregular_rr(90, 5), 4.0, irregular_rr(60, 6))
    gap_from = int(np.floor(beats[90].time_s)) + 1
    gap_to = int(np.floor(beats[91].time_s))
    analyzer = RhythmAnalyzer()
    quality = good_seconds(0, gap_from) + good_seconds(gap_to, 130)
    vf = quiet_vf(0, gap_from) + quiet_vf(gap_to, 130)
    events = analyzer.process(beats, quality, vf) + analyzer.flush()
    af = [e for e in final_episodes(events) if e.kind == "af"]
    assert len(af) == 2
    assert af[1].start_s == beats[91].time_s
    resumed = [e for e in events if e.kind == "af" and not e.final and e.id == af[1].id]
    assert resumed and resumed[0].end_s - beats[91].time_s < 15.0
    assert len([a for a in AlertManager().process(events) if a.kind == "af"]) == 1


def test_vf_seconds_make_a_vf_episode_and_silence_the_beats() -> None:
    beats = beats_from_rr([0.8] * 20 + [0.25] * 40 + [0.8] * 20)
    events = analyse(beats, 50, vf=[(17, 27)])
    vf = [e for e in events if e.kind == "vf"]
    assert [e.final for e in vf] == [False, True]
    assert vf[1].start_s == 17.0 and vf[1].end_s >= 27.0
    assert "tachy" not in kinds(events)
    assert [a.severity for a in AlertManager().process(events)] == ["critical"]


@st.composite
def streams(draw):
    n = draw(st.integers(5, 160))
    rr = draw(st.lists(st.floats(0.3, 2.6), min_size=n, max_size=n))
    labels = draw(st.lists(st.sampled_from("NNNNNVVSQ"), min_size=n + 1, max_size=n + 1))
    beats = beats_from_rr(rr, labels)
    seconds = int(beats[-1].time_s) + 2
    bad = draw(st.lists(st.tuples(st.integers(0, seconds), st.integers(1, 8)), max_size=3))
    cuts = draw(st.lists(st.floats(0, seconds), max_size=6))
    lag = draw(st.integers(0, 4))
    return beats, seconds, bad, sorted(cuts), lag


@settings(max_examples=60, deadline=None)
@given(streams())
def test_chunking_never_changes_the_episodes(stream) -> None:
    beats, seconds, bad, cuts, lag = stream
    quality = {q.index: q for q in good_seconds(0, seconds)}
    for first, length in bad:
        quality.update({q.index: q for q in bad_seconds(first, min(seconds, first + length))})
    quality_list = [quality[k] for k in range(seconds)]
    vf = quiet_vf(0, seconds)
    whole = RhythmAnalyzer()
    reference = whole.process(beats, quality_list, vf) + whole.flush()
    chunked = RhythmAnalyzer()
    got: list[Episode] = []
    b = q = 0
    for t in [*cuts, float(seconds)]:
        nb = next((i for i, x in enumerate(beats) if x.time_s >= t), len(beats))
        nq = max(q, min(seconds, int(t) - lag))  # verdicts lag the beats, as live
        got += chunked.process(beats[b:nb], quality_list[q:nq], vf[q:nq])
        b, q = max(b, nb), nq
    got += chunked.process(beats[b:], quality_list[q:], vf[q:]) + chunked.flush()
    key = lambda e: (e.start_s, e.end_s, e.kind, e.final)  # noqa: E731
    assert sorted(got, key=key) == sorted(reference, key=key)


# -- real records (reference beat labels, ecgmon's own beat detection) ----------------


def test_real_af_record_201(mitdb) -> None:
    events, ref = run_mitdb(mitdb, "201")
    truth = reference_intervals(ref, {"(AFIB", "(AFL"})
    af = [(e.start_s, e.end_s) for e in final_episodes(events) if e.kind == "af"]
    assert overlap_s(truth, af) > 0.9 * sum(b - a for a, b in truth)


def test_real_pauses_record_232(mitdb) -> None:
    events, ref = run_mitdb(mitdb, "232")
    t = ref.beat_samples / ref.fs
    truth = [(a, b) for a, b in itertools.pairwise(t) if b - a > 2.0]
    pauses = [(e.start_s, e.end_s) for e in final_episodes(events) if e.kind == "pause"]
    found = sum(any(abs(a - c) < 0.3 and abs(b - d) < 0.3 for c, d in pauses) for a, b in truth)
    assert len(truth) > 50 and found >= 0.9 * len(truth)
    assert len(pauses) <= 1.1 * len(truth)


def test_real_bigeminy_record_119(mitdb) -> None:
    events, ref = run_mitdb(mitdb, "119")
    truth = reference_intervals(ref, {"(B"})
    big = [(e.start_s, e.end_s) for e in final_episodes(events) if e.kind == "bigeminy"]
    hit = sum(any(overlap_s([r], [d]) > 0 for d in big) for r in truth)
    assert hit >= 0.9 * len(truth)


def test_real_ventricular_flutter_record_207(mitdb) -> None:
    events, ref = run_mitdb(mitdb, "207")
    truth = reference_intervals(ref, {"(VFL"})
    vf = [(e.start_s, e.end_s) for e in final_episodes(events) if e.kind == "vf"]
    assert overlap_s(truth, vf) > 0.8 * sum(b - a for a, b in truth)


def test_real_normal_record_100_stays_quiet(mitdb) -> None:
    events, _ = run_mitdb(mitdb, "100")
    found = set(kinds(list(events)))
    assert not found & {"af", "vf", "vt", "nsvt", "pause", "brady", "tachy", "unreadable"}


def test_live_stage_matches_the_offline_run_and_handles_a_gap() -> None:
    """RhythmStage (what the daemon runs) equals run_rhythm, and a gap becomes 'no data'."""
    from monitor.classify.rhythm import run_rhythm
    from monitor.classify.rhythm_stage import RhythmStage

    from .test_quality import synthetic_ecg

    x = synthetic_ecg(60, rate_hz=1.0)
    beats = beats_from_rr([1.0] * 59, start_s=0.3)
    offline = run_rhythm(x, 130.0, beats)
    stage = RhythmStage()
    live: list[Episode] = []
    for start in range(0, x.size, 73):  # H10-sized notifications
        chunk = x[start : start + 73]
        end_s = (start + chunk.size) / 130.0
        found = [b for b in beats if start / 130.0 <= b.time_s < end_s]
        live += stage.process(chunk, found).episodes
    live += stage.flush().episodes
    key = lambda e: (e.start_s, e.end_s, e.kind, e.final)  # noqa: E731
    assert sorted(live, key=key) == sorted(offline, key=key)

    stage = RhythmStage()
    events = stage.process(x[: 30 * 130], beats[:30]).episodes
    events += stage.gap(12.0).episodes
    assert stage.stream_time_s == 42.0
    after = beats_from_rr([1.0] * 29, start_s=42.3)
    from dataclasses import replace

    after[0] = replace(after[0], rr_before_s=None)
    resumed = stage.process(x[30 * 130 :], after)
    settled = stage.flush()
    events += resumed.episodes + settled.episodes
    # Quality seconds after the gap are counted in stream time, from second 42 on.
    seconds = [q.index for q in resumed.quality + settled.quality]
    assert seconds == list(range(42, 42 + len(seconds))) and len(seconds) >= 29
    gaps = [e for e in events if e.kind == "unreadable"]
    assert [(g.start_s, g.end_s, g.reason) for g in gaps] == [
        (30.0, 42.0, "no data (gap in the stream)")
    ]
    assert "pause" not in kinds(events)
