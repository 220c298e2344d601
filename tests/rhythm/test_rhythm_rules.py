"""The rules added for issue 6's second pass: regularly irregular RR is not AF, slow
V runs are not VT, VF needs no QRS standing out, paced rhythms are not VF, and which
short episodes alert."""

from __future__ import annotations

import numpy as np

from monitor.classify.alerts import AlertManager
from monitor.classify.rhythm import NO_DATA, RhythmAnalyzer, RhythmConfig
from monitor.classify.vf import VfDetector
from monitor.signal.quality import QualitySecond

from .helpers import beats_from_rr, good_seconds, kinds, quiet_vf, vf_quality, vf_seconds

FS = 130.0


def analyse(beats, seconds: int, config: RhythmConfig | None = None, quality=None, vf=None):
    analyzer = RhythmAnalyzer(config)
    return (
        analyzer.process(beats, quality or good_seconds(0, seconds), vf or quiet_vf(0, seconds))
        + analyzer.flush()
    )


def ectopic_rr(labels: str, run_rr: float, sinus_rr: float = 0.8) -> list[float]:
    """Intervals for `labels`: `run_rr` into and within an ectopic run, else sinus."""
    return [run_rr if nxt != "N" else sinus_rr for nxt in labels[1:]]


def test_bigeminal_and_trigeminal_rr_patterns_are_not_af_even_labelled_normal() -> None:
    """Missed ectopy (every beat labelled N) in a 2- or 3-beat pattern is regularly
    irregular: the lag-2/3 intervals agree, so no AF; a random series is AF."""
    rng = np.random.default_rng(5)
    bigeminy = [0.55 if i % 2 else 1.05 for i in range(160)] + rng.normal(0, 0.01, 160)
    trigeminy = [0.5, 0.95, 0.8] * 54 + rng.normal(0, 0.01, 162)
    for rr in (bigeminy, trigeminy):
        events = analyse(beats_from_rr(list(rr)), 140)
        assert "af" not in kinds(events) and "af" not in kinds(events, final=False)
    # Without the pattern test (lag 1 only) the bigeminal series does read as AF.
    lag1 = analyse(beats_from_rr(list(bigeminy)), 140, RhythmConfig(af_lags=(1,)))
    assert "af" in kinds(lag1)
    irregular = list(rng.uniform(0.4, 1.1, 160))
    assert kinds(analyse(beats_from_rr(irregular), 130)).count("af") == 1


def test_slow_ventricular_runs_are_not_vt() -> None:
    labels = "N" * 8 + "VVV" + "N" * 8 + "VVVVV" + "N" * 8
    slow = analyse(beats_from_rr([1.0] * (len(labels) - 1), labels), 40)
    assert kinds(slow) == []  # 60/min: idioventricular, not tachycardia
    fast = analyse(beats_from_rr(ectopic_rr(labels, 0.45), labels), 25)
    assert kinds(fast) == ["triplet", "nsvt"]


def test_vf_like_seconds_with_standing_out_qrs_are_not_vf() -> None:
    """A VF-like spectrum while the QRS still stand out of the background (low peak
    ratio: a beating heart under noise) is not VF; the same seconds without standing-out
    QRS are."""
    quality = good_seconds(0, 30)  # peak ratio 0.05: clean QRS
    events = analyse([], 30, quality=quality, vf=quiet_vf(0, 10) + vf_seconds(10, 30))
    assert "vf" not in kinds(events)
    quality = good_seconds(0, 10) + vf_quality(10, 30)
    events = analyse([], 30, quality=quality, vf=quiet_vf(0, 10) + vf_seconds(10, 30))
    assert "vf" in kinds(events)
    noisy = [QualitySecond(k, False, "noise", 2.5, 0.3, 0.01) for k in range(10, 30)]
    events = analyse(
        [], 30, quality=good_seconds(0, 10) + noisy, vf=quiet_vf(0, 10) + vf_seconds(10, 30)
    )
    assert "vf" in kinds(events)  # VF reads as noise to the quality stage: no veto


def test_paced_like_periodic_wide_complexes_are_not_vf_like() -> None:
    """A train of wide complexes at 75/min has its strongest line at 2.5 Hz, inside the
    VF band, with lines at 1.25 and 3.75 Hz beside it: the harmonic test rejects it,
    while a near-sinusoidal 5 Hz oscillation passes."""
    t = np.arange(int(40 * FS)) / FS
    paced = np.zeros_like(t)
    for beat in np.arange(0.2, 40, 0.8):
        paced += 1500.0 * np.exp(-0.5 * ((t - beat) / 0.06) ** 2)
        paced -= 900.0 * np.exp(-0.5 * ((t - beat - 0.16) / 0.06) ** 2)
    paced += np.random.default_rng(2).normal(0, 10, t.size)
    verdicts = VfDetector(FS).process(paced)
    assert not any(v.vf_like for v in verdicts)
    vf = 500 * np.sin(2 * np.pi * (5.0 * t + 0.2 * np.sin(2 * np.pi * 0.3 * t)))
    assert all(v.vf_like for v in VfDetector(FS).process(vf)[3:])


def test_triplets_and_short_svt_runs_are_logged_not_alerted() -> None:
    labels = "N" * 8 + "VVV" + "N" * 8 + "SSS" + "N" * 8 + "VVVV" + "N" * 8
    events = analyse(beats_from_rr(ectopic_rr(labels, 0.45), labels), 30)
    assert kinds(events) == ["triplet", "svt", "nsvt"]
    assert [a.kind for a in AlertManager().process(events)] == ["nsvt"]
    long_svt = "N" * 8 + "S" * 14 + "N" * 8
    events = analyse(beats_from_rr(ectopic_rr(long_svt, 0.4), long_svt), 25)
    assert [a.kind for a in AlertManager().process(events)] == ["svt"]


def test_noise_guard_distrusts_classes_next_to_unreadable_seconds() -> None:
    labels = "N" * 10 + "VVV" + "N" * 20
    beats = beats_from_rr(ectopic_rr(labels, 0.3, 0.5), labels)
    first_v = int(beats[10].time_s)
    bad = [QualitySecond(k, False, "noise", 3.0, 0.3, 0.01) for k in range(first_v - 2, first_v)]
    quality = sorted(
        [q for q in good_seconds(0, 20) if q.index not in {b.index for b in bad}] + bad,
        key=lambda q: q.index,
    )
    assert "triplet" in kinds(analyse(beats, 20, quality=quality))
    guarded = analyse(beats, 20, RhythmConfig(noise_guard_s=2), quality=quality)
    assert "triplet" not in kinds(guarded)


def _ecg_at(beat_times: np.ndarray, seconds: float, seed: int) -> np.ndarray:
    """Synthetic ECG (uV) with a QRS at each of `beat_times` and no P waves (AF)."""
    t = np.arange(int(seconds * FS)) / FS
    x = np.random.default_rng(seed).normal(0.0, 8.0, t.size)
    for beat in beat_times:
        x += 1200.0 * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
        x += 300.0 * np.exp(-0.5 * ((t - beat - 0.28) / 0.05) ** 2)
    return x


def test_live_stage_strap_reconnect_in_the_middle_of_af() -> None:
    """The daemon's stage with a real signal path: AF, a 4 s reconnect (`gap`), AF again.

    The missing seconds are one 'no data' episode, no pause or rhythm spans them, AF
    resumes after the reconnect without a new 30 s wait and alerts once."""
    from dataclasses import replace

    from monitor.classify.rhythm import final_episodes, make_beats
    from monitor.classify.rhythm_stage import RhythmStage

    rng = np.random.default_rng(11)
    before_s, gap_s, after_s = 90.0, 4.0, 60.0
    times_a = 0.5 + np.cumsum(rng.uniform(0.45, 1.05, 200))
    times_a = times_a[times_a < before_s - 0.5]
    times_b = 0.5 + np.cumsum(rng.uniform(0.45, 1.05, 200))
    times_b = times_b[times_b < after_s - 0.5]
    x_a, x_b = _ecg_at(times_a, before_s, 1), _ecg_at(times_b, after_s, 2)
    beats_a = make_beats(np.round(times_a * FS).astype(np.int64), "N" * times_a.size, FS)
    resume = before_s + gap_s
    beats_b = make_beats(np.round((times_b + resume) * FS).astype(np.int64), "N" * times_b.size, FS)
    beats_b[0] = replace(beats_b[0], rr_before_s=None)  # the QRS detector restarted

    stage = RhythmStage()
    events, alerts = [], []
    for x, beats, offset in ((x_a, beats_a, 0.0), (x_b, beats_b, resume)):
        for start in range(0, x.size, 73):
            chunk = x[start : start + 73]
            lo, hi = offset + start / FS, offset + (start + chunk.size) / FS
            out = stage.process(chunk, [b for b in beats if lo <= b.time_s < hi])
            events += out.episodes
            alerts += out.alerts
        if offset == 0.0:
            out = stage.gap(gap_s)
            events += out.episodes
            alerts += out.alerts
            assert stage.stream_time_s == resume
    out = stage.flush()
    events += out.episodes
    alerts += out.alerts

    finals = final_episodes(events)
    gaps = [e for e in finals if e.kind == "unreadable" and e.reason == NO_DATA]
    assert [(g.start_s, g.end_s) for g in gaps] == [(before_s, resume)]
    af = [e for e in finals if e.kind == "af"]
    assert len(af) == 2 and af[0].end_s <= before_s and af[1].start_s >= resume
    onset_after = [e for e in events if e.kind == "af" and not e.final and e.id == af[1].id]
    assert onset_after and onset_after[0].end_s - resume < 15.0
    assert not [e for e in finals if e.kind == "pause" and e.start_s < resume < e.end_s]
    assert [a.kind for a in alerts] == ["af"]
