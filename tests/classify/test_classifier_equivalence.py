"""The faster beat classifier gives exactly the beats of the classifier it replaced.

`tests/classify/classifier_reference.py` keeps the streaming classifier and featurizer
of main 87c5389 as an oracle. Every comparison is exact: beats are compared with `==`
(index, time, label, confidence, RR intervals: float equality, so bit for bit) and
features with `np.array_equal`. The inputs are real MIT-BIH records run through
ecgmon's own streaming filter and QRS detector, fed as a replay (60 s frames, the
benchmark's replay) and as the live path (1 s frames), and in random batchings for
the featurizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.classify import features as feat
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.classifier import BeatClassifier, classify_beats
from monitor.classify.model import BeatModel
from monitor.evaluation import load_reference
from monitor.signal.filters import ecg_filter, filter_ecg
from monitor.signal.qrs import QrsDetector, detect_qrs
from monitor.signal.resample import resample_record
from tests.classify import classifier_reference as ref

pytestmark = pytest.mark.data

FS = 130.0
RECORDS = ("100", "106", "119", "203", "207", "208", "219", "232")
"""Normal rhythm, PVCs, bigeminy, multiform VT/AF, blocks and flutter, PVC runs, atrial
fibrillation, long pauses with S beats: every branch of the featurizer (premature beats
that skip the template, RR clipping, the usual-RR average) gets exercised."""
MINUTES = 10
"""Minutes of each record streamed (the first ones: every stream starts there)."""


@pytest.fixture(scope="module")
def model() -> BeatModel:
    return BeatModel()


def load(mitdb: Path, record: str) -> np.ndarray:
    r = load_reference(mitdb / record)
    return resample_record(r.samples_uv, r.fs, FS)[: round(MINUTES * 60 * FS)]


def stream(make: type, model: BeatModel, x: np.ndarray, chunk: int) -> list[ClassifiedBeat]:
    """The pipeline's beat path: filter and detector in chunks, their output to `make`."""
    filt, qrs, clf = ecg_filter(FS), QrsDetector(FS), make(model, FS)
    out: list[ClassifiedBeat] = []
    for i in range(0, x.size, chunk):
        part = x[i : i + chunk]
        out += clf.process(filt.process(part), qrs.process(part))
    return out + clf.process(np.empty(0), qrs.flush()) + clf.flush()


def reference_only_names() -> bool:
    return set(feat.RR_FEATURES) <= set(ref.CANDIDATE_FEATURES)


@pytest.mark.parametrize("record", RECORDS)
@pytest.mark.parametrize("chunk_s", [60, 1])
def test_streamed_beats_are_bit_identical(
    mitdb: Path, model: BeatModel, record: str, chunk_s: int
) -> None:
    if not reference_only_names():
        pytest.skip("the model reads a feature the oracle does not know (added after 87c5389)")
    x = load(mitdb, record)
    chunk = round(chunk_s * FS)
    new = stream(BeatClassifier, model, x, chunk)
    old = stream(ref.ReferenceBeatClassifier, model, x, chunk)
    assert len(new) > 100
    assert new == old


def test_offline_beats_are_bit_identical(mitdb: Path, model: BeatModel) -> None:
    if not reference_only_names():
        pytest.skip("the model reads a feature the oracle does not know (added after 87c5389)")
    for record in RECORDS[:3]:
        x = load(mitdb, record)
        peaks = detect_qrs(x, FS)
        filtered = filter_ecg(x, FS)
        new = classify_beats(filtered, peaks, model=model)
        assert new == ref.reference_classify_beats(filtered, peaks, model=model)


@pytest.mark.parametrize("record", RECORDS[:4])
def test_features_in_random_batches_are_bit_identical(mitdb: Path, record: str) -> None:
    """Every context feature both versions know, batch by batch, and the waves."""
    x = load(mitdb, record)
    filtered = filter_ecg(x, FS)
    peaks = detect_qrs(x, FS)
    names = tuple(n for n in feat.CANDIDATE_FEATURES if n in ref.CANDIDATE_FEATURES)
    windows, log_std = feat.normalize_windows(feat.cut_windows(filtered, peaks))
    old_windows, old_log_std = ref.normalize_windows(ref.cut_windows(filtered, peaks))
    assert np.array_equal(windows, old_windows) and np.array_equal(log_std, old_log_std)
    rr = np.diff(peaks) / FS
    pre, post = np.r_[np.nan, rr], np.r_[rr, np.nan]
    new_f, old_f = feat.BeatFeaturizer(names), ref.BeatFeaturizer(names)
    rng = np.random.default_rng(int(record))
    i = 0
    while i < peaks.size:
        b = slice(i, i + int(rng.choice([1, 2, 5, 40, 76, 300])))
        got = new_f.batch(windows[b], log_std[b], pre[b], post[b])
        want = old_f.batch(windows[b], log_std[b], pre[b], post[b])
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), b
        i = b.stop
