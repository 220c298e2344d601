"""The streaming classifier gives exactly what the offline batch gives, whatever the chunks."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.classify import features as feat
from monitor.classify.beat import BEAT_CLASSES, ClassifiedBeat
from monitor.classify.classifier import BeatClassifier, classify_beats
from monitor.classify.model import BeatModel
from monitor.signal.filters import filter_ecg

FS = 130.0


def synthetic_ecg(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A crude ECG (Gaussian P, QRS and T waves) with irregular RR and some wide beats;
    returns (filtered signal, R-peak indices)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    x = np.zeros(n)
    peaks = []
    r = 0.5
    while r < seconds - 0.5:
        wide = rng.random() < 0.15
        width = 0.05 if wide else 0.012
        x += (1400 if wide else 1000) * np.exp(-0.5 * ((t - r) / width) ** 2)
        if not wide:
            x += 120 * np.exp(-0.5 * ((t - r + 0.16) / 0.02) ** 2)
        x += 250 * np.exp(-0.5 * ((t - r - 0.28) / 0.05) ** 2)
        peaks.append(round(r * FS))
        r += rng.uniform(0.55, 1.1) * (0.7 if wide else 1.0)
    x += 30 * rng.normal(size=n)
    return filter_ecg(x, FS), np.asarray(peaks, dtype=np.int64)


@pytest.fixture(scope="module")
def model() -> BeatModel:
    return BeatModel()


def stream(
    model: BeatModel, x: np.ndarray, peaks: np.ndarray, chunk: int, peak_delay: int
) -> list[ClassifiedBeat]:
    """Feed chunks; each R-peak is reported `peak_delay` samples after it happened."""
    clf = BeatClassifier(model)
    out: list[ClassifiedBeat] = []
    for start in range(0, x.size, chunk):
        end = min(x.size, start + chunk)
        due = peaks[(peaks + peak_delay >= start) & (peaks + peak_delay < end)]
        if start == 0:
            due = peaks[peaks + peak_delay < end]
        out += clf.process(x[start:end], due)
    late = peaks[peaks + peak_delay >= x.size]
    out += clf.process(np.empty(0), late) + clf.flush()
    return out


@pytest.mark.parametrize(("chunk", "delay"), [(1, 0), (73, 65), (130, 130), (1300, 20), (10**6, 0)])
def test_streaming_matches_batch(model: BeatModel, chunk: int, delay: int) -> None:
    x, peaks = synthetic_ecg(60.0, seed=1)
    batch = classify_beats(x, peaks, model=model)
    streamed = stream(model, x, peaks, chunk, delay)
    assert [b.index for b in streamed] == peaks.tolist()
    assert [b.label for b in streamed] == [b.label for b in batch]
    np.testing.assert_allclose(
        [b.confidence for b in streamed], [b.confidence for b in batch], rtol=1e-5, atol=1e-6
    )
    assert [b.rr_before_s for b in streamed] == [b.rr_before_s for b in batch]
    if feat.NEEDS_NEXT_R_PEAK:
        assert [b.rr_after_s for b in streamed] == [b.rr_after_s for b in batch]
    else:  # classified before the next R-peak was known
        assert all(b.rr_after_s is None for b in streamed)


def test_a_beat_is_final_as_its_features_allow(model: BeatModel) -> None:
    """With RR after among the features a beat waits for the next R-peak; without it,
    a beat is classified as soon as its window is complete (issue #7's latency)."""
    x, peaks = synthetic_ecg(20.0, seed=2)
    clf = BeatClassifier(model)
    assert clf.waits_for_next_peak == feat.NEEDS_NEXT_R_PEAK
    early = clf.process(x[: peaks[0] + feat.WINDOW_AFTER - 1], peaks[:1])
    assert early == []  # the window is not complete yet
    if feat.NEEDS_NEXT_R_PEAK:
        assert clf.process(x[peaks[0] + feat.WINDOW_AFTER - 1 :]) == []
        beats = clf.process(np.empty(0), peaks[1:2])
        assert [b.index for b in beats] == [int(peaks[0])]
        assert beats[0].rr_after_s == pytest.approx((peaks[1] - peaks[0]) / FS)
    else:
        beats = clf.process(x[peaks[0] + feat.WINDOW_AFTER - 1 : peaks[0] + feat.WINDOW_AFTER])
        assert [b.index for b in beats] == [int(peaks[0])]
        assert beats[0].rr_after_s is None
        beats = clf.process(x[peaks[0] + feat.WINDOW_AFTER :], peaks[1:2])
        assert [b.index for b in beats] == [int(peaks[1])]
        assert beats[0].rr_before_s == pytest.approx((peaks[1] - peaks[0]) / FS)
    last = clf.flush()
    assert all(b.rr_after_s is None for b in last)


def test_features_in_any_batches_equal_the_whole_record() -> None:
    """The vectorised featurizer carries its state exactly from batch to batch."""
    x, peaks = synthetic_ecg(120.0, seed=4)
    windows, log_std = feat.normalize_windows(feat.cut_windows(x, peaks))
    rr = np.diff(peaks) / FS
    pre, post = np.r_[np.nan, rr], np.r_[rr, np.nan]
    names = feat.CANDIDATE_FEATURES
    whole = feat.BeatFeaturizer(names).batch(windows, log_std, pre, post)
    rng = np.random.default_rng(5)
    f = feat.BeatFeaturizer(names)
    parts, i = [], 0
    while i < peaks.size:
        k = int(rng.integers(1, 9))
        b = slice(i, i + k)
        parts.append(f.batch(windows[b], log_std[b], pre[b], post[b]))
        i += k
    np.testing.assert_allclose(np.concatenate([p[0] for p in parts]), whole[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), whole[1], rtol=0, atol=1e-5)


def test_features_are_causal() -> None:
    """Changing the beats after beat i changes nothing of beat i's features but its
    RR after (and the features named after it)."""
    x, peaks = synthetic_ecg(60.0, seed=6)
    cut = peaks.size // 2
    other = x.copy()
    other[peaks[cut] + feat.WINDOW_AFTER :] *= -0.5
    moved = peaks.copy()
    moved[cut + 1 :] += 7
    w0, c0 = feat.featurize(x, peaks, names=feat.CANDIDATE_FEATURES)
    w1, c1 = feat.featurize(other, moved, names=feat.CANDIDATE_FEATURES)
    no_post = [i for i, n in enumerate(feat.CANDIDATE_FEATURES) if "post" not in n]
    np.testing.assert_array_equal(w0[: cut + 1], w1[: cut + 1])
    np.testing.assert_array_equal(c0[: cut + 1][:, no_post], c1[: cut + 1][:, no_post])
    np.testing.assert_array_equal(c0[:cut], c1[:cut])
    assert not np.array_equal(c0[cut + 1 :], c1[cut + 1 :])


def test_labels_and_confidences_are_well_formed(model: BeatModel) -> None:
    x, peaks = synthetic_ecg(30.0, seed=3)
    beats = classify_beats(x, peaks, model=model)
    assert len(beats) == peaks.size
    assert all(b.label in BEAT_CLASSES and 0.0 < b.confidence <= 1.0 for b in beats)
    assert all(b.time_s == pytest.approx(b.index / FS) for b in beats)


def test_out_of_order_r_peaks_are_refused(model: BeatModel) -> None:
    clf = BeatClassifier(model)
    clf.process(np.zeros(500), [100, 200])
    with pytest.raises(ValueError, match="not after"):
        clf.process(np.zeros(10), [150])


def test_an_empty_batch_of_beats_has_no_features_and_keeps_the_context() -> None:
    x, peaks = synthetic_ecg(20.0, seed=8)
    windows, log_std = feat.normalize_windows(feat.cut_windows(x, peaks))
    rr = np.diff(peaks) / FS
    f = feat.BeatFeaturizer()
    f.batch(windows[:5], log_std[:5], np.r_[np.nan, rr[:4]], np.full(5, np.nan))
    wave, context = f.batch(windows[:0], log_std[:0], rr[:0], rr[:0])
    assert wave.shape == (0, 2, feat.WINDOW) and context.shape == (0, feat.N_CONTEXT)
    whole = feat.BeatFeaturizer().batch(
        windows[:6], log_std[:6], np.r_[np.nan, rr[:5]], np.full(6, np.nan)
    )
    np.testing.assert_array_equal(
        f.batch(windows[5:6], log_std[5:6], rr[4:5], np.full(1, np.nan))[1], whole[1][5:]
    )


def test_r_peaks_out_of_order_within_one_call_are_refused(model: BeatModel) -> None:
    clf = BeatClassifier(model)
    with pytest.raises(ValueError, match="R-peak 200 is not after the previous one \\(300\\)"):
        clf.process(np.zeros(500), [100, 300, 200])


def test_usual_rr_ignores_premature_beats_in_bigeminy() -> None:
    """In bigeminy (0.5 s / 1.1 s) the usual RR is the long one, so the early beats stay
    clearly premature against it while the plain short average sits in between."""
    rr = np.tile([0.5, 1.1], 40)
    pre = np.r_[np.nan, rr]
    n = pre.size
    windows = np.tile(np.sin(np.linspace(0, 6, feat.WINDOW)), (n, 1))
    names = ("log_rr_pre_over_normal", "log_rr_pre_over_short")
    _, context = feat.BeatFeaturizer(names).batch(windows, np.zeros(n), pre, np.full(n, np.nan))
    early = np.flatnonzero(pre == 0.5)[-5:]
    assert np.allclose(context[early, 0], np.log(0.5 / 1.1), atol=0.02)
    assert np.all(context[early, 1] > np.log(0.5 / 1.1) + 0.2)
