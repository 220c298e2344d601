"""Classifying beats as they become final, live or offline.

A beat is final once the filtered signal has reached the end of its window and, only
for a model that reads the RR after the beat (`features.NEEDS_NEXT_R_PEAK`), once the
next R-peak is known. `BeatClassifier` takes the filtered 130 Hz signal in chunks
together with the R-peaks the detector reported, and returns the beats that became
final, classified in one batched model call. `classify_beats` does the same for a
whole recording at once; both give identical labels and confidences because both
pass the beats, in order, through the same `BeatFeaturizer` (offline, every beat but
the last also carries its RR after, which a live beat that did not wait lacks).
"""

from __future__ import annotations

import bisect
import itertools

import numpy as np

from monitor.classify import features as feat
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.model import BeatModel, ModelError

BATCH = 4096
"""Largest number of beats sent to the model at once (bounds memory offline)."""
KEEP_S = 6.0
"""Signal kept behind the newest sample: an R-peak reported up to this late (the
detector's stated delay is about 1 s) still finds its window."""


def check_rate(model: BeatModel, fs: float) -> None:
    if abs(float(fs) - model.input_fs) > 1e-9:
        raise ModelError(
            f"the beat model reads {model.input_fs:g} Hz ECG but was given {float(fs):g} Hz: "
            "resample to the working rate first"
        )


def _run(model: BeatModel, wave: np.ndarray, context: np.ndarray) -> np.ndarray:
    if len(wave) <= BATCH:  # a live or replay chunk: one call, nothing to join
        return model.predict(wave, context)
    return np.concatenate(
        [
            model.predict(wave[i : i + BATCH], context[i : i + BATCH])
            for i in range(0, len(wave), BATCH)
        ]
    )


def _beats(
    model: BeatModel,
    peaks: list[int],
    probs: np.ndarray,
    rr_pre: list[float | None],
    rr_post: list[float | None],
    fs: float,
) -> list[ClassifiedBeat]:
    """One ClassifiedBeat per beat; the per-beat values are converted to Python objects
    in bulk (tolist) first, so the loop only builds the beats. The confidence is the
    largest probability (the value at argmax, the same float)."""
    classes = model.classes
    labels = [classes[k] for k in probs.argmax(axis=1).tolist()]
    confidence = probs.max(axis=1).astype(np.float64).tolist()
    times = [p / fs for p in peaks]  # int / float: the division numpy does, correctly rounded
    rows = zip(peaks, times, labels, confidence, rr_pre, rr_post, strict=True)
    return [ClassifiedBeat(p, t, lab, c, b, a) for p, t, lab, c, b, a in rows]


def classify_beats(
    filtered: np.ndarray,
    peaks: np.ndarray,
    fs: float = feat.INPUT_FS,
    model: BeatModel | None = None,
) -> list[ClassifiedBeat]:
    """Classify every beat of a whole filtered recording (R-peak indices into it)."""
    model = model or BeatModel()
    check_rate(model, fs)
    peaks = np.asarray(peaks, dtype=np.int64)
    if peaks.size == 0:
        return []
    if np.any(np.diff(peaks) <= 0):
        raise ValueError("R-peak indices must be strictly increasing")
    wave, context = feat.featurize(np.asarray(filtered, dtype=np.float64), peaks, fs)
    probs = _run(model, wave, context)
    rr = (np.diff(peaks) / fs).tolist()
    return _beats(model, peaks.tolist(), probs, [None, *rr], [*rr, None], fs)


class BeatClassifier:
    """Streaming classifier: feed filtered signal chunks and the detector's R-peaks.

    `process(chunk, peaks)` appends the chunk (samples continue the stream; indices
    count from its first sample) and the newly reported R-peak indices, and returns
    the beats that became final, in order. `flush()` classifies the last beats at the
    end of a recording. When the model does not read the RR after a beat, a beat is
    classified as soon as its window is complete, without waiting for the next R-peak,
    and its `rr_after_s` is None (not known yet at that moment).
    """

    def __init__(self, model: BeatModel | None = None, fs: float = feat.INPUT_FS) -> None:
        self.model = model or BeatModel()
        check_rate(self.model, fs)
        self.fs = float(fs)
        self.waits_for_next_peak = feat.NEEDS_NEXT_R_PEAK
        self._featurizer = feat.BeatFeaturizer()
        self._signal = np.empty(0)
        self._start = 0  # absolute index of self._signal[0]
        self._pending: list[int] = []  # reported, not yet classified
        self._last: int | None = None  # last classified R-peak

    @property
    def samples_seen(self) -> int:
        return self._start + self._signal.size

    def process(
        self, chunk: np.ndarray, peaks: np.ndarray | list[int] | tuple[int, ...] = ()
    ) -> list[ClassifiedBeat]:
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size:
            self._signal = np.concatenate([self._signal, x])
        new = np.asarray(peaks, dtype=np.int64).ravel()
        if new.size:
            newest = self._pending[-1] if self._pending else self._last
            if newest is not None and new[0] <= newest:
                raise ValueError(f"R-peak {int(new[0])} is not after the previous one ({newest})")
            if new.size > 1 and (back := new[1:] <= new[:-1]).any():
                k = int(np.argmax(back))
                raise ValueError(
                    f"R-peak {int(new[k + 1])} is not after the previous one ({int(new[k])})"
                )
            if new[0] < self._start:
                raise ValueError(f"R-peak {int(new[0])} is older than the signal kept")
            self._pending.extend(new.tolist())
        end = self.samples_seen
        wait = 1 if self.waits_for_next_peak else 0
        # Pending peaks ascend: the ready ones are those whose window has ended (and, when
        # the model reads the RR after, that have a successor).
        ready = bisect.bisect_right(self._pending, end - feat.WINDOW_AFTER)
        ready = max(0, min(ready, len(self._pending) - wait))
        return self._emit(ready, final=False)

    def flush(self) -> list[ClassifiedBeat]:
        """Classify every beat still pending (end of the recording)."""
        return self._emit(len(self._pending), final=True)

    def _emit(self, count: int, final: bool) -> list[ClassifiedBeat]:
        if count == 0 or self._signal.size == 0:
            return []
        fs = self.fs
        peaks = self._pending[:count]
        windows, log_std = feat.normalize_windows(
            feat.cut_windows(self._signal, np.array(peaks, dtype=np.int64), offset=self._start)
        )
        # RR intervals as Python floats: (int - int) / fs is the same correctly rounded
        # division as numpy's on the int64 differences, with None where unknown.
        gaps = [(b - a) / fs for a, b in itertools.pairwise(peaks)]
        first = None if self._last is None else (peaks[0] - self._last) / fs
        rr_pre: list[float | None] = [first, *gaps]
        rr_post: list[float | None] = [None] * count
        if self.waits_for_next_peak:
            after = self._pending[count] if len(self._pending) > count else None
            rr_post = [*gaps, None if after is None else (after - peaks[-1]) / fs]
        pre = np.array([np.nan if first is None else first, *gaps])
        post = _nan_for_none(rr_post) if self.waits_for_next_peak else np.full(count, np.nan)
        wave, context = self._featurizer.batch(windows, log_std, pre, post)
        probs = _run(self.model, wave, context)
        out = _beats(self.model, peaks, probs, rr_pre, rr_post, fs)
        self._last = peaks[-1]
        del self._pending[:count]
        self._trim(final)
        return out

    def _trim(self, final: bool) -> None:
        """Keep only the signal that pending and late-reported beats can still need."""
        keep = round(KEEP_S * self.fs) + feat.WINDOW_BEFORE
        keep_from = self.samples_seen - keep
        if self._pending:
            keep_from = min(keep_from, self._pending[0] - feat.WINDOW_BEFORE)
        drop = keep_from - self._start
        if drop > keep or (final and drop > 0):  # trim in large steps: fewer copies
            self._signal = self._signal[drop:]
            self._start = keep_from


def _nan_for_none(values: list[float | None]) -> np.ndarray:
    """The featurizer's form of optional intervals: float64, NaN where unknown."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
