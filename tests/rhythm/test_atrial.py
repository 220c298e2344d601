"""P-wave coherence (monitor.classify.atrial) and how the AF rule uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.classify.atrial import (
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
    # The running sums give what the pure functions give on the last 12 stretches.
    last = p_wave_coherence(pr_stretches(x, peaks[-WINDOW_BEATS:], FS))
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
