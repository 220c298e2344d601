"""P-wave coherence (monitor.classify.atrial) and how the AF rule uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.atrial import (
    PREMATURE_SHARE,
    RR_BEATS,
    RR_MIN,
    WINDOW_BEATS,
    AtrialActivity,
    p_wave_coherence,
    pr_stretches,
)
from monitor.classify.rhythm import RhythmConfig, make_beats, run_rhythm

from .helpers import FS, kinds, reference_intervals, reference_labels


def ecg(
    rr_s: np.ndarray, p_waves: bool, seed: int = 5, start_s: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic ECG (uV) with R peaks after the intervals `rr_s`: QRS, T wave, and
    either a P wave 160 ms before each R or fibrillatory waves (4-9 Hz, wandering
    phase) unrelated to the beats. Returns the samples and the R-peak indices."""
    rng = np.random.default_rng(seed)
    r_times = start_s + np.concatenate([[0.0], np.cumsum(rr_s)])
    t = np.arange(int((r_times[-1] + 1.0) * FS)) / FS
    x = rng.normal(0.0, 6.0, t.size)
    for r in r_times:
        near = np.abs(t - r) < 0.6
        tt = t[near] - r
        x[near] += 1200.0 * np.exp(-0.5 * (tt / 0.012) ** 2)
        x[near] += 300.0 * np.exp(-0.5 * ((tt - 0.28) / 0.05) ** 2)
        if p_waves:
            x[near] += 150.0 * np.exp(-0.5 * ((tt + 0.16) / 0.025) ** 2)
    if not p_waves:
        freq = 6.0 + 1.5 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 6.3))
        x += 60.0 * np.sin(
            2 * np.pi * np.cumsum(freq) / FS + np.cumsum(rng.normal(0, 0.05, t.size))
        )
    return x, np.round(r_times * FS).astype(np.int64)


def test_coherence_is_near_one_for_one_wave_and_small_for_unrelated_ones() -> None:
    rng = np.random.default_rng(1)
    n = round(0.22 * FS)
    wave = np.exp(-0.5 * ((np.arange(n) - n / 2) / 3.0) ** 2) * 100.0
    same = wave + rng.normal(0.0, 5.0, (WINDOW_BEATS, n))
    unrelated = rng.normal(0.0, 50.0, (WINDOW_BEATS, n))
    assert p_wave_coherence(same) > 0.9
    # (about 1 / WINDOW_BEATS for unrelated rows)
    assert p_wave_coherence(unrelated) < 0.25
    assert p_wave_coherence(np.zeros((WINDOW_BEATS, n))) == 0.0


def test_pr_stretches_remove_baseline_wander() -> None:
    ramp = 500.0 + 40.0 * np.arange(400, dtype=np.float64)
    rows = pr_stretches(ramp, np.array([100, 250, 399]), FS)
    assert rows.shape == (3, round(0.30 * FS) - round(0.08 * FS))
    np.testing.assert_allclose(rows, 0.0, atol=1e-9)


def _timely(peaks: np.ndarray) -> np.ndarray:
    """Which beats are not premature, straight from the definition in atrial.py."""
    rr = np.diff(peaks)
    keep = np.ones(peaks.size, dtype=bool)
    for i in range(1, peaks.size):
        before = rr[max(0, i - 1 - RR_BEATS) : i - 1]
        if before.size >= RR_MIN:
            keep[i] = rr[i - 1] >= (1.0 - PREMATURE_SHARE) * float(np.median(before))
    return keep


def _measure_in_chunks(x: np.ndarray, peaks: np.ndarray, chunk: int) -> list[float | None]:
    beats = make_beats(peaks, ["N"] * len(peaks), FS)
    atrial = AtrialActivity(FS)
    out: list[float | None] = []
    for start in range(0, x.size, chunk):
        end = start + chunk
        atrial.feed(x[start:end])
        out += atrial.measure([b for b in beats if start <= b.index < end])
    return out


def test_streaming_coherence_does_not_depend_on_chunking() -> None:
    rr = 0.8 + 0.1 * np.random.default_rng(2).standard_normal(60)
    x, peaks = ecg(rr, p_waves=True)
    whole = _measure_in_chunks(x, peaks, x.size)
    assert whole[: WINDOW_BEATS - 1] == [None] * (WINDOW_BEATS - 1)
    assert all(v is not None and v > 0.8 for v in whole[WINDOW_BEATS:])
    assert _measure_in_chunks(x, peaks, 73) == whole
    assert _measure_in_chunks(x, peaks, 1300) == whole
    # The running sums give what the pure functions give on the last 12 stretches
    # of beats that are not premature.
    timely = peaks[_timely(peaks)]
    assert timely.size < peaks.size  # (the series holds premature beats)
    last = p_wave_coherence(pr_stretches(x, timely[-WINDOW_BEATS:], FS))
    assert whole[-1] == pytest.approx(last, rel=1e-9)


def test_ectopic_beats_do_not_enter_and_restart_forgets() -> None:
    rr = np.full(40, 0.8)
    x, peaks = ecg(rr, p_waves=True)
    labels = ["V" if i % 3 == 0 else "N" for i in range(len(peaks))]
    beats = make_beats(peaks, labels, FS)
    atrial = AtrialActivity(FS)
    atrial.feed(x)
    values = atrial.measure(beats)
    # 12 N beats are reached at the 18th beat (every third is V); V beats carry the
    # value of the N beats before them.
    assert values[16] is None and values[17] is not None and values[18] == values[17]
    atrial.restart(x.size + 10 * round(FS))
    assert atrial.measure(make_beats(peaks[-2:] + x.size, ["N", "N"], FS)) == [None, None]


def test_p_waves_decide_af_at_a_moderate_rr_irregularity() -> None:
    """RR irregularity between af_on_no_p and af_on (about 0.09): AF when P waves are
    absent, none when every beat has its P wave."""
    cfg = RhythmConfig()
    rng = np.random.default_rng(7)
    rr = 0.75 * (1.0 + 0.095 * rng.standard_normal(200))
    assert cfg.af_on_no_p < 0.09 < cfg.af_on
    fib, peaks = ecg(rr, p_waves=False)
    sinus, peaks_s = ecg(rr, p_waves=True)
    beats = make_beats(peaks, ["N"] * len(peaks), FS)
    af = run_rhythm(fib, FS, beats)
    assert "af" in kinds(af)
    covered = sum(e.duration_s for e in af if e.kind == "af" and e.final)
    assert covered > 0.6 * float(np.sum(rr))
    assert "af" not in kinds(run_rhythm(sinus, FS, make_beats(peaks_s, ["N"] * len(peaks), FS)))
    # Without the atrial evidence the same RR series is decided on irregularity alone.
    off = RhythmConfig(af_p_clear=float("inf"), af_p_absent=0.0)
    assert kinds(run_rhythm(sinus, FS, beats, off)) == kinds(run_rhythm(fib, FS, beats, off))


def test_p_waves_separate_af_from_sinus_on_record_201(mitdb: Path) -> None:
    """DS1 record 201: coherence is low in its AF and high in its sinus stretches."""
    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / "201")
    x = resample_record(ref.samples_uv, ref.fs, FS)
    peaks = detect_qrs(x, FS)
    beats = make_beats(peaks, reference_labels(ref, peaks), FS)
    atrial = AtrialActivity(FS)
    atrial.feed(x)
    values = np.array([np.nan if v is None else v for v in atrial.measure(beats)])
    t = peaks / FS

    def median_in(notes: set[str]) -> float:
        inside = np.zeros(t.size, dtype=bool)
        for a, b in reference_intervals(ref, notes):
            inside |= (t >= a + 15.0) & (t < b)  # (past the window's first beats)
        return float(np.nanmedian(values[inside]))

    cfg = RhythmConfig()
    assert median_in({"(AFIB"}) < cfg.af_p_absent
    assert median_in({"(N"}) > cfg.af_p_clear


def test_analyzer_keeps_no_atrial_values_of_analysed_beats() -> None:
    """In regular sinus rhythm AF is not decided beat by beat; the atrial values of
    analysed beats must still be let go (memory stays flat over a day)."""
    from monitor.classify.rhythm import RhythmAnalyzer

    from .helpers import beats_from_rr, good_seconds, quiet_vf

    beats = beats_from_rr([0.8] * 2000)
    analyzer = RhythmAnalyzer()
    seconds = int(beats[-1].time_s) + 5
    for k in range(0, len(beats), 100):
        chunk = beats[k : k + 100]
        first, last = int(chunk[0].time_s), int(chunk[-1].time_s) + 1
        analyzer.process(
            chunk,
            good_seconds(first, min(last, seconds)),
            quiet_vf(first, min(last, seconds)),
            [(b.index, 0.9) for b in chunk],
        )
        assert len(analyzer._atrial) <= 110
    analyzer.process([], good_seconds(last, seconds), quiet_vf(last, seconds))
    assert len(analyzer._atrial) == 0


def _sinus_with_unlabelled_ectopy(every: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sinus rhythm at 0.8 s with P waves, every `every`-th beat replaced by an early
    beat without one (0.45 s after the beat before, full compensatory pause): PVCs, as
    a classifier that calls them N would hand them over. Samples, R-peak indices and
    which beats are ectopic."""
    times, ectopic, t = [], [], 0.6
    for k in range(80):
        ectopic.append(k % every == every - 1)
        times.append(t - 0.35 if ectopic[-1] else t)
        t += 0.8
    r_times = np.array(times)
    x = np.random.default_rng(4).normal(0.0, 6.0, round((t + 0.5) * FS))
    tt = np.arange(x.size) / FS
    for r, ect in zip(r_times, ectopic, strict=True):
        near = np.abs(tt - r) < 0.6
        d = tt[near] - r
        x[near] += 1200.0 * np.exp(-0.5 * (d / 0.012) ** 2)
        x[near] += 300.0 * np.exp(-0.5 * ((d - 0.28) / 0.05) ** 2)
        if not ect:
            x[near] += 150.0 * np.exp(-0.5 * ((d + 0.16) / 0.025) ** 2)
    return x, np.round(r_times * FS).astype(np.int64), np.array(ectopic)


def test_premature_beats_labelled_n_stay_out_of_the_coherence() -> None:
    """PVCs the classifier calls N have no P wave; being early, they stay out: the
    coherence is that of the sinus beats alone (clear P waves, no AF)."""
    x, peaks, ectopic = _sinus_with_unlabelled_ectopy()
    atrial = AtrialActivity(FS)
    atrial.feed(x)
    values = atrial.measure(make_beats(peaks, ["N"] * len(peaks), FS))
    sinus = peaks[~ectopic]
    assert values[-1] == pytest.approx(
        p_wave_coherence(pr_stretches(x, sinus[-WINDOW_BEATS:], FS)), rel=1e-9
    )
    assert min(v for v in values if v is not None) > RhythmConfig().af_p_clear


def test_restart_forgets_the_rr_intervals() -> None:
    """After a gap the rate may differ: the intervals before it are not the reference
    for what is premature (else every beat at a faster rate would be left out)."""
    x, peaks = ecg(np.full(30, 1.0), p_waves=True)
    atrial = AtrialActivity(FS)
    atrial.feed(x)
    atrial.measure(make_beats(peaks, ["N"] * len(peaks), FS))
    fast, fast_peaks = ecg(np.full(30, 0.5), p_waves=True, seed=6)
    atrial.restart(x.size + 10 * round(FS))
    atrial.feed(fast)
    values = atrial.measure(make_beats(fast_peaks + x.size + 10 * round(FS), ["N"] * 31, FS))
    assert values[WINDOW_BEATS - 1] is not None and values[-1] is not None
    assert values[-1] > RhythmConfig().af_p_clear


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    chunk=st.integers(1, 2000),
    every=st.integers(2, 6),
)
def test_coherence_with_premature_beats_does_not_depend_on_chunking(
    seed: int, chunk: int, every: int
) -> None:
    rng = np.random.default_rng(seed)
    rr = 0.8 * (1.0 + 0.08 * rng.standard_normal(50))
    rr[every::every] *= 0.55  # (early beats)
    x, peaks = ecg(np.clip(rr, 0.35, None), p_waves=bool(seed % 2), seed=seed)
    assert _measure_in_chunks(x, peaks, chunk) == _measure_in_chunks(x, peaks, x.size)


def test_ectopy_labelled_n_on_record_119_keeps_its_p_waves(
    mitdb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DS1 record 119 (sinus rhythm with ventricular bigeminy), its V beats handed over
    as N, as a classifier on another lead does: with premature beats left out, the
    coherence still reads P waves (measured: median 0.82, none below af_p_absent;
    letting them in: 0.37, 26% below af_p_absent, where the AF thresholds drop)."""
    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / "119")
    x = resample_record(ref.samples_uv, ref.fs, FS)
    peaks = detect_qrs(x, FS)
    labels = ["N" if c == "V" else c for c in reference_labels(ref, peaks)]
    assert labels.count("N") > 0.95 * len(labels)
    beats = make_beats(peaks, labels, FS)

    def coherence() -> np.ndarray:
        atrial = AtrialActivity(FS)
        atrial.feed(x)
        return np.array([np.nan if v is None else v for v in atrial.measure(beats)])

    cfg = RhythmConfig()
    values = coherence()
    assert np.nanmedian(values) > cfg.af_p_clear
    assert np.nanmean(values < cfg.af_p_absent) < 0.02
    monkeypatch.setattr("monitor.classify.atrial.PREMATURE_SHARE", 0.0)
    assert np.nanmedian(coherence()) < cfg.af_p_clear
