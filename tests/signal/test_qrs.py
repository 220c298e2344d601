"""The streaming QRS detector: chunking, delay, rates, hard inputs, real records.

Signals are the ECGSYN fixture (fixtures/synthetic_130hz.csv with its ground truth)
and real MIT-BIH records read by path (the `mitdb` fixture skips without them).
Detections are always scored beat by beat with the 150 ms window of
monitor.evaluation.score_detections.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.evaluation import Reference, load_reference, score_detections
from monitor.signal.qrs import QrsDetector, detect_qrs
from monitor.signal.resample import resample_record

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FS = 130.0
RATES = (100.0, 130.0, 250.0, 360.0, 500.0, 1000.0)
WARM_UP_S = 2.0
"""The detector learns its levels over the first 2 s; delay promises hold after that."""
BAR = 99.5
"""Se and +P (%) the issue asks of the detector."""


@dataclass(frozen=True)
class Synthetic:
    samples: np.ndarray  # microvolts at 130 Hz
    beats: np.ndarray  # ground-truth sample indices
    labels: np.ndarray  # N / S / V
    noise: tuple[float, float]  # the noisy stretch, seconds

    def clean(self, positions: np.ndarray, fs: float = FS) -> np.ndarray:
        """Mask of positions (at rate fs) outside the noisy stretch."""
        t = positions / fs
        return (t < self.noise[0]) | (t >= self.noise[1])


@functools.cache
def synthetic() -> Synthetic:
    samples = np.loadtxt(FIXTURES / "synthetic_130hz.csv", skiprows=1)
    with (FIXTURES / "synthetic_130hz.truth.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with (FIXTURES / "synthetic_130hz.segments.csv").open() as handle:
        spans = {
            r["kind"]: (float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(handle)
        }
    return Synthetic(
        samples=samples,
        beats=np.array([int(r["sample"]) for r in rows]),
        labels=np.array([r["label"] for r in rows]),
        noise=spans["noise"],
    )


@functools.cache
def record(folder: Path, name: str) -> Reference:
    return load_reference(folder / name)


def se_ppv(reference: np.ndarray, detected: np.ndarray, fs: float) -> tuple[float, float]:
    tp, fn, fp = score_detections(reference, detected, fs)
    return 100.0 * tp / max(1, tp + fn), 100.0 * tp / max(1, tp + fp)


def chunks_of(x: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    """Cut x into pieces of the given lengths (0 allowed), the rest in one last piece."""
    pieces, start = [], 0
    for n in lengths:
        pieces.append(x[start : start + n])
        start = min(x.size, start + n)
    pieces.append(x[start:])
    return pieces


def stream(x: np.ndarray, fs: float, pieces: list[np.ndarray]) -> np.ndarray:
    detector = QrsDetector(fs)
    found = [detector.process(p) for p in pieces]
    return np.concatenate([*found, detector.flush()]).astype(np.int64)


def excerpt(
    ref: Reference, start_s: float, seconds: float, fs: float
) -> tuple[np.ndarray, np.ndarray]:
    """`seconds` of a real record resampled to fs, and its reference beats at the record's rate."""
    lo, hi = round(start_s * ref.fs), round((start_s + seconds) * ref.fs)
    x = resample_record(ref.samples_uv[lo:hi], ref.fs, fs)
    keep = (ref.beat_samples >= lo) & (ref.beat_samples < hi)
    return x, ref.beat_samples[keep] - lo


def to_rate(peaks: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    return np.round(peaks * (fs_to / fs_from)).astype(np.int64)


# -- the synthetic fixture ------------------------------------------------------------


def test_finds_every_beat_of_the_synthetic_fixture() -> None:
    syn = synthetic()
    found = detect_qrs(syn.samples, FS)
    clean_ref, clean_found = syn.beats[syn.clean(syn.beats)], found[syn.clean(found)]
    se, ppv = se_ppv(clean_ref, clean_found, FS)
    assert se >= BAR and ppv >= BAR, f"clean parts: Se {se:.2f}% +P {ppv:.2f}%"
    # Every ectopic beat (premature, wide, after a pause) is among the detections.
    window = round(0.15 * FS)
    for beat in syn.beats[syn.labels != "N"]:
        assert np.min(np.abs(found - beat)) <= window, f"ectopic beat at {beat / FS:.2f} s missed"
    # In the noisy stretch (muscle noise, strong wander) noise must not flood the output:
    # fewer than one false beat in ten (a quality gate, not an accuracy claim).
    noisy_ref, noisy_found = syn.beats[~syn.clean(syn.beats)], found[~syn.clean(found)]
    _, _, fp = score_detections(noisy_ref, noisy_found, FS)
    assert fp <= 0.1 * noisy_ref.size, f"{fp} false beats among {noisy_ref.size} in the noise"


@pytest.mark.parametrize("gain", [-1.0, 0.25, 4.0, -4.0])
def test_polarity_and_gain_do_not_matter(gain: float) -> None:
    """A strap worn upside down inverts the ECG; skin contact changes its size."""
    syn = synthetic()
    found = detect_qrs(gain * syn.samples, FS)
    if gain == -1.0:
        assert np.array_equal(found, detect_qrs(syn.samples, FS))
    se, ppv = se_ppv(syn.beats[syn.clean(syn.beats)], found[syn.clean(found)], FS)
    assert se >= BAR and ppv >= BAR, f"gain {gain:g}: Se {se:.2f}% +P {ppv:.2f}%"


# -- chunk-size invariance --------------------------------------------------------------

chunk_lengths = st.lists(st.one_of(st.integers(0, 12), st.integers(0, 4000)), max_size=40)


@settings(max_examples=30, deadline=None)
@given(lengths=chunk_lengths)
def test_chunking_never_changes_the_beats_synthetic(lengths: list[int]) -> None:
    syn = synthetic()
    whole = detect_qrs(syn.samples, FS)
    pieces = chunks_of(syn.samples, lengths)
    assert np.array_equal(stream(syn.samples, FS, pieces), whole)


@pytest.mark.data
@settings(max_examples=15, deadline=None)
@given(lengths=chunk_lengths)
def test_chunking_never_changes_the_beats_real_record(mitdb: Path, lengths: list[int]) -> None:
    """Four minutes of record 208 (frequent PVCs and fusion beats) at its own 360 Hz."""
    ref = record(mitdb, "208")
    x = ref.samples_uv[: round(240 * ref.fs)]
    whole = detect_qrs(x, ref.fs)
    pieces = chunks_of(x, lengths)
    assert np.array_equal(stream(x, ref.fs, pieces), whole)


def test_chunking_with_nan_and_one_sample_chunks() -> None:
    """Holding NaN at the last finite value must not depend on where chunks end."""
    x = synthetic().samples[: round(60 * FS)].copy()
    x[1000:1030] = np.nan
    x[2000] = np.nan
    x[4000:4130] = np.nan
    whole = detect_qrs(x, FS)
    ones = np.split(x, np.arange(1, x.size))
    assert np.array_equal(stream(x, FS, ones), whole)


@pytest.mark.parametrize("fs", RATES)
def test_tiny_chunks_from_the_first_sample(fs: float) -> None:
    """Regression: 1-13 sample chunks at the start once broke the slope buffer."""
    x = resample_record(synthetic().samples[: round(20 * FS)], FS, fs)
    head = round(1.5 * fs)  # the first 1.5 s in tiny chunks, the rest in one
    for size in (1, 2, 3, 5, 8, 13):
        pieces = [*np.split(x[:head], np.arange(size, head, size)), x[head:]]
        assert np.array_equal(stream(x, fs, pieces), detect_qrs(x, fs))


# -- bounded delay -------------------------------------------------------------------------


def reported_delays(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Feed one sample at a time; (peaks, delay of each report in s, stated delay_s)."""
    detector = QrsDetector(fs)
    peaks: list[int] = []
    delays: list[float] = []
    for end in range(1, x.size + 1):
        for p in detector.process(x[end - 1 : end]):
            peaks.append(int(p))
            delays.append((end - 1 - int(p)) / fs)  # newest sample seen is end - 1
    return np.array(peaks), np.array(delays), detector.delay_s


@pytest.mark.parametrize(("start_s", "seconds"), [(0.0, 70.0), (95.0, 50.0)])
def test_each_beat_is_reported_within_the_stated_delay_synthetic(
    start_s: float, seconds: float
) -> None:
    """Sinus rhythm with premature beats and pauses (0-70 s), AF-like rhythm (95-145 s)."""
    x = synthetic().samples[round(start_s * FS) : round((start_s + seconds) * FS)]
    peaks, delays, stated = reported_delays(x, FS)
    steady = peaks >= WARM_UP_S * FS
    assert steady.sum() > 0.8 * seconds  # heart rate > 48 bpm: the run saw the beats
    late = [(p / FS, d) for p, d in zip(peaks[steady], delays[steady], strict=True) if d > stated]
    assert not late, f"beats reported later than delay_s={stated:.3f} s: {late}"
    # The beats streamed one sample at a time are the beats of the whole run.
    whole = detect_qrs(x, FS)
    assert np.array_equal(peaks, whole[: peaks.size])


@pytest.mark.data
def test_each_beat_is_reported_within_the_stated_delay_real_record(mitdb: Path) -> None:
    """A minute of record 119 (ventricular bigeminy: long and short RR) at 130 Hz."""
    x, _ = excerpt(record(mitdb, "119"), 60.0, 60.0, FS)
    peaks, delays, stated = reported_delays(x, FS)
    steady = peaks >= WARM_UP_S * FS
    assert steady.sum() > 50
    assert delays[steady].max() <= stated, (
        f"max delay {delays[steady].max():.3f} s > {stated:.3f} s"
    )


@pytest.mark.parametrize("fs", RATES)
def test_stated_delay_is_at_most_one_second(fs: float) -> None:
    """Issue 2: the detector states its delay, and it is at most 1 s."""
    assert QrsDetector(fs).delay_s <= 1.0


# -- any rate from 100 to 1000 Hz ----------------------------------------------------------


@pytest.mark.parametrize("fs", RATES)
def test_works_at_any_rate_synthetic(fs: float) -> None:
    syn = synthetic()
    x = resample_record(syn.samples, FS, fs)
    found = to_rate(detect_qrs(x, fs), fs, FS)
    se, ppv = se_ppv(syn.beats[syn.clean(syn.beats)], found[syn.clean(found)], FS)
    assert se >= BAR and ppv >= BAR, f"{fs:g} Hz: Se {se:.2f}% +P {ppv:.2f}%"


@pytest.mark.data
@pytest.mark.parametrize("fs", RATES)
def test_works_at_any_rate_real_record(mitdb: Path, fs: float) -> None:
    """Five minutes of record 119 (DS1; bigeminy) resampled from 360 Hz to fs."""
    ref = record(mitdb, "119")
    x, beats = excerpt(ref, 0.0, 300.0, fs)
    se, ppv = se_ppv(beats, to_rate(detect_qrs(x, fs), fs, ref.fs), ref.fs)
    assert se >= BAR and ppv >= BAR, f"119 at {fs:g} Hz: Se {se:.2f}% +P {ppv:.2f}%"


# -- hard inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [100.0, 130.0, 1000.0])
@pytest.mark.parametrize("level", [0.0, -1234.0, 32767.0])
def test_flat_line_has_no_beats(fs: float, level: float) -> None:
    assert detect_qrs(np.full(round(30 * fs), level), fs).size == 0


def test_no_beats_after_the_leads_come_off() -> None:
    """20 s of ECG then 20 s flat at the last value: beats stop with the ECG."""
    ecg = synthetic().samples[: round(20 * FS)]
    x = np.concatenate([ecg, np.full(round(20 * FS), ecg[-1])])
    found = detect_qrs(x, FS)
    assert found.size > 15
    assert found.max() < ecg.size + round(0.15 * FS)


def test_all_nan_gives_no_beats_and_no_error() -> None:
    assert detect_qrs(np.full(round(10 * FS), np.nan), FS).size == 0


def test_nan_samples_do_not_hide_the_beats_around_them() -> None:
    syn = synthetic()
    x = syn.samples[: round(90 * FS)].copy()
    rng = np.random.default_rng(3)
    gaps = [(0, 10), (round(60 * FS), round(61 * FS))]  # at the very start; a 1 s dropout
    gaps += [(s, s + 1) for s in rng.integers(300, x.size - 300, 12)]  # single samples
    gaps += [
        (s, s + int(n))
        for s, n in zip(rng.integers(300, x.size - 300, 6), rng.integers(3, 30, 6), strict=True)
    ]
    near = np.zeros(x.size, dtype=bool)
    for lo, hi in gaps:
        x[lo:hi] = np.nan
        near[max(0, lo - round(0.5 * FS)) : hi + round(0.5 * FS)] = True
    found = detect_qrs(x, FS)
    assert found.dtype == np.int64 and np.all((found >= 0) & (found < x.size))
    truth = syn.beats[syn.beats < x.size]
    # Beats more than 0.5 s from a gap are all found, and nothing false appears there.
    se, ppv = se_ppv(truth[~near[truth]], found[~near[found]], FS)
    assert se == 100.0 and ppv == 100.0, f"away from gaps: Se {se:.2f}% +P {ppv:.2f}%"


def _clipped_synthetic() -> tuple[Synthetic, np.ndarray, np.ndarray]:
    """The first 90 s with an amplifier saturating at +/-500 uV (R waves are ~1100 uV)."""
    syn = synthetic()
    x = np.clip(syn.samples[: round(90 * FS)], -500.0, 500.0)
    return syn, detect_qrs(x, FS), syn.beats < x.size


def test_clipped_synthetic_peaks_are_still_found() -> None:
    """Every narrow beat (N, S) survives losing the top half of its R wave; nothing false."""
    syn, found, inside = _clipped_synthetic()
    narrow = syn.beats[inside & (syn.labels != "V")]
    _, _, fp = score_detections(syn.beats[inside], found, FS)
    _, fn_narrow, _ = score_detections(narrow, found, FS)
    assert fn_narrow == 0 and fp == 0, f"clipped: {fn_narrow} narrow beats missed, {fp} false"


@pytest.mark.xfail(
    strict=True,
    reason="a broad QS ventricular beat (~-1100 uV) clipped at -500 uV becomes a flat-bottomed "
    "trough (the V beat at 63.7 s of the fixture): its integrated feature 3.8e3 is below the "
    "threshold 5.3e3, and search-back rejects it because its slope is 0.24x the last QRS's "
    "(search-back asks >= 0.5x, a T-wave rule); clipped at 400-700 uV the fixture's "
    "clean-part Se is 99.41%",
)
def test_clipped_wide_ventricular_beats_are_still_found() -> None:
    syn, found, inside = _clipped_synthetic()
    wide = syn.beats[inside & (syn.labels == "V")]
    _, fn, _ = score_detections(wide, found, FS)
    assert fn == 0, f"clipped: {fn} of {wide.size} ventricular beats missed"


@pytest.mark.data
def test_clipped_real_peaks_are_still_found(mitdb: Path) -> None:
    """Record 115 (DS1) with everything above 60% of its median R height cut off."""
    ref = record(mitdb, "115")
    x, beats = excerpt(ref, 0.0, 120.0, ref.fs)
    baseline = np.median(x)
    ceiling = baseline + 0.6 * np.median(x[beats] - baseline)
    x = np.clip(x, 2 * baseline - ceiling, ceiling)
    y = resample_record(x, ref.fs, FS)
    se, ppv = se_ppv(beats, to_rate(detect_qrs(y, FS), FS, ref.fs), ref.fs)
    assert se >= BAR and ppv >= BAR, f"clipped 115: Se {se:.2f}% +P {ppv:.2f}%"


# -- very fast and very slow rhythms made from real beats --------------------------------


def splice_real_beats(
    ref: Reference, rr_s: float, seconds: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Real normal beats of `ref` laid end to end at RR ~ rr_s (+/-2%), at the record's rate.

    Each beat keeps up to 0.25 s before and 0.45 s after its R-peak (less when the RR
    is shorter, so a 250 bpm rhythm keeps the QRS and loses most of the T wave), is
    detrended to start and end at zero, and the gaps between beats are the isoelectric
    line plus 10 uV of noise. Returns the signal and the R-peak positions.
    """
    rng = np.random.default_rng(seed)
    fs = ref.fs
    beats, symbols = ref.beat_samples, ref.beat_symbols
    rr = np.diff(beats)
    # Normal beats with room around them in the original record.
    usable = [
        int(beats[k])
        for k in range(1, beats.size - 1)
        if symbols[k] == "N" and rr[k - 1] > 0.5 * fs and rr[k] > 0.6 * fs
    ]
    out = np.zeros(round(seconds * fs))
    peaks: list[int] = []
    t = round(0.5 * fs)
    k = 0
    while True:
        interval = rr_s * (1 + 0.02 * rng.standard_normal())
        pre, post = round(min(0.25, 0.4 * interval) * fs), round(min(0.45, 0.6 * interval) * fs)
        if t + post >= out.size:
            break
        r = usable[k % len(usable)]
        k += 1
        seg = ref.samples_uv[r - pre : r + post].copy()
        seg -= np.linspace(seg[0], seg[-1], seg.size)
        out[t - pre : t + post] += seg
        peaks.append(t)
        t += round(interval * fs)
    out += rng.normal(0.0, 10.0, out.size)
    return out, np.array(peaks)


@pytest.mark.data
@pytest.mark.parametrize(
    ("bpm", "seconds"),
    [
        pytest.param(
            250,
            60.0,
            marks=pytest.mark.xfail(
                strict=True,
                reason="candidates must be the feature maximum within CONFIRM_S = 0.20 s on "
                "both sides; at RR 0.24 s a beat whose integrated feature is smaller than its "
                "neighbour's is never a candidate: 19 of 248 beats missed (Se 92.3%), 0 false; "
                "all found at 220 bpm, 144 of 278 missed at 280 bpm",
            ),
        ),
        (30, 150.0),
    ],
)
def test_very_fast_and_very_slow_rhythms_of_real_beats(
    mitdb: Path, bpm: int, seconds: float
) -> None:
    ref = record(mitdb, "115")
    x, peaks = splice_real_beats(ref, 60.0 / bpm, seconds, seed=bpm)
    y = resample_record(x, ref.fs, FS)
    found = to_rate(detect_qrs(y, FS), FS, ref.fs)
    _, fn, fp = score_detections(peaks, found, ref.fs)
    assert fn == 0 and fp == 0, f"{bpm} bpm, {peaks.size} beats: {fn} missed, {fp} false"


# -- real records ---------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize("name", ["100", "103", "113", "115", "117", "121", "122", "123"])
def test_real_records_meet_the_bar(mitdb: Path, name: str) -> None:
    """Whole MIT-BIH records, MLII resampled to 130 Hz, every reference beat counted."""
    ref = record(mitdb, name)
    x = resample_record(ref.samples_uv, ref.fs, FS)
    found = to_rate(detect_qrs(x, FS), FS, ref.fs)
    tp, fn, fp = score_detections(ref.beat_samples, found, ref.fs)
    se, ppv = 100.0 * tp / (tp + fn), 100.0 * tp / (tp + fp)
    assert se >= BAR and ppv >= BAR, f"{name}: Se {se:.2f}% +P {ppv:.2f}% (FN {fn}, FP {fp})"
