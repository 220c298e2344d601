"""ORACLE: the beat classifier and its featurizer exactly as they were on main 87c5389,
kept to prove that the faster `monitor.classify.classifier` and `features` give the same
labels, confidences and features bit for bit (tests/classify/test_classifier_equivalence.py).

Do not optimise or "fix" this file: its only job is to stay what it was. The feature
constants (window, weights, feature names) are imported from `monitor.classify.features`:
they are the model's input spec, not the code under test.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from monitor.classify import features as feat
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.features import (
    AMP_ALPHA,
    INPUT_FS,
    IRREGULAR_RR,
    LOCAL_RR,
    LONG_ALPHA,
    NORMAL_ALPHA,
    P_SEGMENT,
    QRS_SEGMENT,
    RR_FEATURES,
    RR_MAX_S,
    RR_MIN_S,
    SHORT_ALPHA,
    STD_FLOOR_UV,
    TEMPLATE_ALPHA,
    TEMPLATE_PREMATURE,
    WINDOW,
    WINDOW_AFTER,
    WINDOW_BEFORE,
)
from monitor.classify.model import BeatModel, ModelError

PR_FEATURES = ("pr_detrended_corr", "pr_short_corr")
"""Candidate P-wave features added after this reference was written (not read by the
shipped model); tests/classify/test_pwave_features.py checks them against scipy."""
CANDIDATE_FEATURES = tuple(n for n in feat.CANDIDATE_FEATURES if n not in PR_FEATURES)
"""The context features this reference computes (the equivalence tests compare these)."""


def normalize_windows(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median-centre and scale each window by its own standard deviation.

    Returns (normalised windows as float32, natural log of each window's std in uV).
    Depends on nothing but the window itself.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[None, :]
    centred = raw - np.median(raw, axis=1, keepdims=True)
    std = np.maximum(centred.std(axis=1), STD_FLOOR_UV)
    return (centred / std[:, None]).astype(np.float32), np.log(std)


def cut_windows(
    signal: np.ndarray,
    peaks: np.ndarray,
    offset: int = 0,
    before: int = WINDOW_BEFORE,
    after: int = WINDOW_AFTER,
) -> np.ndarray:
    """Windows of `signal` around each peak (absolute index minus `offset` into signal).

    Samples outside the signal repeat its edge value (only the first beat of a stream
    can reach before its start).
    """
    peaks = np.asarray(peaks, dtype=np.int64) - offset
    idx = peaks[:, None] + np.arange(-before, after)[None, :]
    if signal.size == 0:
        raise ValueError("no signal to cut beat windows from")
    np.clip(idx, 0, signal.size - 1, out=idx)
    return np.asarray(signal, dtype=np.float64)[idx]


def _ema_before(
    x: np.ndarray, alpha: float, state: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exponential average of the rows of `x`: the value *before* each row is folded in.

    `state` is the average so far (None: none yet, the first row starts it). Returns
    (averages before each row, shape of x; the average after the last row).
    """
    if state is None:
        state = x[0].astype(np.float64)
    zi = ((1.0 - alpha) * state)[None, ...]
    after, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    before = np.concatenate([state[None, ...], after[:-1]], axis=0)
    return before, after[-1]


def _median_full(x: np.ndarray) -> np.ndarray:
    """np.median along rows of a NaN-free 2-D array, bit for bit, without its overhead
    (one partition; the mean of the two middle values for an even row length)."""
    k = x.shape[1]
    half = k // 2
    if k % 2:
        return np.partition(x, half, axis=1)[:, half]
    part = np.partition(x, (half - 1, half), axis=1)
    return (part[:, half - 1] + part[:, half]) / 2.0


def _rows_median(hist: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN where a row has no value), vectorised."""
    out = np.full(hist.shape[0], np.nan)
    full = ~np.isnan(hist).any(axis=1)
    if full.all():
        return _median_full(hist)
    if full.any():
        out[full] = _median_full(hist[full])
    for i in np.flatnonzero(~full):  # only the first beats of a stream
        row = hist[i][~np.isnan(hist[i])]
        if row.size:
            out[i] = np.median(row)
    return out


def template_similarity(windows: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How like the patient's usual beat each beat is: (correlation, log RMS distance).

    Both windows are normalised (unit std), so the distance is unitless; 0.05 keeps
    the log finite for a beat identical to its template.
    """
    w = np.asarray(windows, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    k = w.shape[1]
    distance = np.log(np.sqrt(np.square(w - t).sum(axis=1) / k) + 0.05)
    wc = w - w.sum(axis=1, keepdims=True) / k
    tc = t - t.sum(axis=1, keepdims=True) / k
    norm = np.sqrt(np.sum(wc**2, axis=1) * np.sum(tc**2, axis=1))
    corr = np.sum(wc * tc, axis=1) / np.maximum(norm, 1e-9)
    return corr, distance


def _segment_similarity(w: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correlation, log RMS distance, log std ratio) of matching segments of w and t."""
    k = w.shape[1]
    wc = w - w.sum(axis=1, keepdims=True) / k
    tc = t - t.sum(axis=1, keepdims=True) / k
    ww = np.sum(wc**2, axis=1)
    tt = np.sum(tc**2, axis=1)
    corr = np.sum(wc * tc, axis=1) / np.maximum(np.sqrt(ww * tt), 1e-9)
    distance = np.log(np.sqrt(np.square(w - t).sum(axis=1) / k) + 0.05)
    energy = 0.5 * np.log((ww + 0.01 * w.shape[1]) / (tt + 0.01 * w.shape[1]))
    return corr, distance, energy


TEMPLATE_FEATURES: tuple[str, ...] = (
    "template_corr",
    "log_template_distance",
    "p_corr",
    "log_p_energy_over_template",
    "qrs_corr",
    "log_qrs_distance",
)
"""The context features that compare a beat's window with its template (training
recomputes them on augmented windows)."""


def template_features(
    windows: np.ndarray, template: np.ndarray, names: tuple[str, ...] = TEMPLATE_FEATURES
) -> dict[str, np.ndarray]:
    """The template-comparison features among `names` (only those are computed)."""
    w = np.asarray(windows, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    if "template_corr" in names or "log_template_distance" in names:
        out["template_corr"], out["log_template_distance"] = template_similarity(w, t)
    if "p_corr" in names or "log_p_energy_over_template" in names:
        corr, _, energy = _segment_similarity(w[:, P_SEGMENT], t[:, P_SEGMENT])
        out["p_corr"], out["log_p_energy_over_template"] = corr, energy
    if "qrs_corr" in names or "log_qrs_distance" in names:
        corr, distance, _ = _segment_similarity(w[:, QRS_SEGMENT], t[:, QRS_SEGMENT])
        out["qrs_corr"], out["log_qrs_distance"] = corr, distance
    return out


@dataclass
class ContextState:
    """What the featurizer remembers about the patient's previous beats."""

    rr_short: np.ndarray | None = None
    rr_long: np.ndarray | None = None
    log_amp: np.ndarray | None = None
    rr_normal: np.ndarray | None = None
    template: np.ndarray | None = field(default=None, repr=False)
    rr_history: np.ndarray = field(default_factory=lambda: np.full(LOCAL_RR, np.nan))
    """The last LOCAL_RR clipped RR intervals before the next beat (NaN: not yet seen)."""


class BeatFeaturizer:
    """Turns consecutive batches of beats into model inputs, keeping the patient context."""

    def __init__(self, names: tuple[str, ...] = RR_FEATURES) -> None:
        unknown = set(names) - set(CANDIDATE_FEATURES)
        if unknown:
            raise ValueError(f"unknown context features {sorted(unknown)}")
        self.names = names
        self.state = ContextState()

    def batch(
        self, windows: np.ndarray, log_std: np.ndarray, rr_pre: np.ndarray, rr_post: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of consecutive beats, then fold them into the running context.

        windows (n, WINDOW) normalised, log_std (n,), RR before / after each beat in
        seconds (NaN when unknown: the first beat of a stream, or the last one).
        Returns (two-channel waves (n, 2, WINDOW), context (n, len(names))), float32.
        """
        st = self.state
        n = windows.shape[0]
        if n == 0:
            return np.empty((0, 2, WINDOW), np.float32), np.empty((0, len(self.names)), np.float32)
        windows64 = np.asarray(windows, dtype=np.float64)
        log_std = np.asarray(log_std, dtype=np.float64)
        pre = np.clip(np.asarray(rr_pre, dtype=np.float64), RR_MIN_S, RR_MAX_S)
        post = np.clip(np.asarray(rr_post, dtype=np.float64), RR_MIN_S, RR_MAX_S)
        have_pre = ~np.isnan(pre)
        fallback = np.where(np.isnan(post), 0.8, post)
        fallback = np.where(have_pre, pre, fallback)

        # Running RR averages before each beat (only beats with an RR before update them).
        short = np.empty(n)
        long = np.empty(n)
        idx = np.flatnonzero(have_pre)
        # Rank of each beat among those with an RR before: the state it sees is the
        # one after the previous such beat.
        seen = np.cumsum(have_pre) - have_pre  # updates strictly before beat i
        short_prev, long_prev = st.rr_short, st.rr_long
        s_all: np.ndarray
        l_all: np.ndarray
        if idx.size:
            s_before, s_after = _ema_before(pre[idx], SHORT_ALPHA, st.rr_short)
            l_before, l_after = _ema_before(pre[idx], LONG_ALPHA, st.rr_long)
            s_all = np.concatenate([s_before, s_after[None]])
            l_all = np.concatenate([l_before, l_after[None]])
            st.rr_short, st.rr_long = s_after, l_after
        else:
            s_all = np.array([np.nan if short_prev is None else float(short_prev)])
            l_all = np.array([np.nan if long_prev is None else float(long_prev)])
        short[:] = s_all[seen]
        long[:] = l_all[seen]
        # Before the very first update there is no average yet: the beat's own RR.
        if short_prev is None:
            none_yet = np.isnan(short) | (seen == 0)
            short[none_yet] = fallback[none_yet]
        if long_prev is None:
            none_yet = np.isnan(long) | (seen == 0)
            long[none_yet] = short[none_yet]
        pre_v = np.where(have_pre, pre, short)
        post_v = np.where(np.isnan(post), short, post)

        # The last RR intervals before each beat: previous RR, local median, irregularity.
        hist = np.concatenate([st.rr_history, pre[have_pre]])
        k = st.rr_history.size
        pos = k + seen  # in hist, the RR intervals before beat i are hist[pos - LOCAL_RR:pos]
        lags = np.arange(-LOCAL_RR, 0)
        window_rr = hist[pos[:, None] + lags[None, :]]
        prev_rr = window_rr[:, -1]
        prev_rr = np.where(np.isnan(prev_rr), short, prev_rr)
        local = _rows_median(window_rr)
        local = np.where(np.isnan(local), short, local)
        recent = window_rr[:, -IRREGULAR_RR:]
        irregular = _rows_median(np.abs(np.diff(recent, axis=1)))
        irregular = np.where(np.isnan(irregular), 0.0, irregular) / local
        st.rr_history = hist[-LOCAL_RR:]

        # Running log amplitude (every beat updates it).
        amp, st.log_amp = _ema_before(log_std, AMP_ALPHA, st.log_amp)

        # Template: running average of the previous non-premature beats (the first beat
        # of a stream always starts it); a beat before any template sees itself.
        qualifies = ~have_pre | (pre >= TEMPLATE_PREMATURE * long)
        if st.template is None:
            qualifies[0] = True
        # t_all[m]: the template after the first m qualifying beats of this batch (m = 0:
        # the template carried in, or the first beat itself when there is none yet).
        q = np.flatnonzero(qualifies)
        if q.size:
            t_before, t_after = _ema_before(windows64[q], TEMPLATE_ALPHA, st.template)
            t_all = np.concatenate([t_before, t_after[None]])
            template = t_all[np.searchsorted(q, np.arange(n), side="left")]
            st.template = t_after
        else:
            assert st.template is not None  # the first beat of a stream always qualifies
            template = np.broadcast_to(st.template, windows64.shape)
        # Running average of the usual RR: the RR before of the non-premature beats.
        normal = short.copy()
        if "log_rr_pre_over_normal" in self.names:
            normal = self._normal_rr(pre, have_pre & qualifies, short)
        table = {
            "log_rr_pre_over_short": lambda: np.log(pre_v / short),
            "log_rr_post_over_short": lambda: np.log(post_v / short),
            "log_rr_pre_over_long": lambda: np.log(pre_v / long),
            "log_rr_post_over_long": lambda: np.log(post_v / long),
            "log_rr_post_over_pre": lambda: np.log(post_v / pre_v),
            "log_short_over_long": lambda: np.log(short / long),
            "rr_pre_s": lambda: pre_v,
            "rr_post_s": lambda: post_v,
            "log_amp_over_running": lambda: log_std - amp,
            "log_rr_pre_over_previous_rr": lambda: np.log(pre_v / prev_rr),
            "log_rr_pre_over_local": lambda: np.log(pre_v / local),
            "log_rr_post_over_local": lambda: np.log(post_v / local),
            "rr_irregularity": lambda: irregular,
            "log_rr_pre_over_normal": lambda: np.log(pre_v / normal),
        }
        shape = template_features(windows64, template, self.names)
        context = np.zeros((n, len(self.names)), np.float32)
        for i, name in enumerate(self.names):
            context[:, i] = shape[name] if name in shape else table[name]()
        wave = np.stack([windows64, template], axis=1).astype(np.float32)
        return wave, context

    def _normal_rr(self, pre: np.ndarray, usual: np.ndarray, short: np.ndarray) -> np.ndarray:
        """The running average of the usual RR seen by each beat (before it is folded in).

        `usual` marks the beats whose RR before updates it (non-premature ones); before
        the first of them the short average stands in.
        """
        st = self.state
        n = pre.size
        q = np.flatnonzero(usual)
        prev = st.rr_normal
        if q.size:
            before, after = _ema_before(pre[q], NORMAL_ALPHA, st.rr_normal)
            every = np.concatenate([before, after[None]])
            normal = every[np.searchsorted(q, np.arange(n), side="left")]
            st.rr_normal = after
            if prev is None:  # no usual RR before the first usual beat of the stream
                normal[: q[0] + 1] = short[: q[0] + 1]
        else:
            normal = short.copy() if prev is None else np.full(n, float(prev))
        return normal


def featurize(
    signal: np.ndarray,
    peaks: np.ndarray,
    fs: float = INPUT_FS,
    names: tuple[str, ...] = RR_FEATURES,
) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs for every beat of a whole filtered record (offline, e.g. training).

    `peaks` are ascending R-peak indices into `signal`; the last beat has no RR after.
    Returns (waves (n, 2, WINDOW), context (n, len(names))), both float32.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    n = peaks.size
    if n == 0:
        return np.empty((0, 2, WINDOW), np.float32), np.empty((0, len(names)), np.float32)
    windows, log_std = normalize_windows(cut_windows(signal, peaks))
    rr = np.diff(peaks) / fs
    pre = np.concatenate([[np.nan], rr])
    post = np.concatenate([rr, [np.nan]])
    if not any("post" in name for name in names):
        # Features that do not read the RR after must not see it at all (it would stand in
        # for the first beat's missing RR before): live, it is not known yet.
        post[:] = np.nan
    return BeatFeaturizer(names).batch(windows, log_std, pre, post)


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
    return np.concatenate(
        [
            model.predict(wave[i : i + BATCH], context[i : i + BATCH])
            for i in range(0, len(wave), BATCH)
        ]
    )


def _beats(
    model: BeatModel,
    peaks: np.ndarray,
    probs: np.ndarray,
    rr_pre: list[float | None],
    rr_post: list[float | None],
    fs: float,
) -> list[ClassifiedBeat]:
    """One ClassifiedBeat per beat; the per-beat values are converted to Python objects
    in bulk (tolist) first, so the loop only builds the beats."""
    best = probs.argmax(axis=1)
    confidence = np.take_along_axis(probs, best[:, None], axis=1)[:, 0].astype(np.float64)
    classes = model.classes
    labels = [classes[k] for k in best.tolist()]
    index = np.asarray(peaks, dtype=np.int64)
    times = (index / fs).tolist()
    return [
        ClassifiedBeat(p, t, lab, c, b, a)
        for p, t, lab, c, b, a in zip(
            index.tolist(), times, labels, confidence.tolist(), rr_pre, rr_post, strict=True
        )
    ]


def reference_classify_beats(
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
    wave, context = featurize(np.asarray(filtered, dtype=np.float64), peaks, fs)
    probs = _run(model, wave, context)
    rr = (np.diff(peaks) / fs).tolist()
    return _beats(model, peaks, probs, [None, *rr], [*rr, None], fs)


class ReferenceBeatClassifier:
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
        self._featurizer = BeatFeaturizer()
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
            steps = np.diff(new)
            if newest is not None and new[0] <= newest:
                raise ValueError(f"R-peak {int(new[0])} is not after the previous one ({newest})")
            if steps.size and steps.min() <= 0:
                k = int(np.argmax(steps <= 0))
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
        peaks = np.asarray(self._pending[: count + 1], dtype=np.int64)
        windows, log_std = normalize_windows(
            cut_windows(self._signal, peaks[:count], offset=self._start)
        )
        before = np.asarray([self._last if self._last is not None else -1, *peaks[:count]])
        rr_pre = np.diff(before) / self.fs
        if self._last is None:
            rr_pre[0] = np.nan
        rr_post = np.full(count, np.nan)
        if self.waits_for_next_peak:
            rr_post[: peaks.size - 1] = np.diff(peaks) / self.fs
        wave, context = self._featurizer.batch(windows, log_std, rr_pre, rr_post)
        probs = _run(self.model, wave, context)
        out = _beats(
            self.model, peaks[:count], probs, _optional(rr_pre), _optional(rr_post), self.fs
        )
        self._last = int(peaks[count - 1])
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


def _optional(values: np.ndarray) -> list[float | None]:
    """Floats, None for NaN (NaN is the one value not equal to itself)."""
    return [None if v != v else v for v in np.asarray(values, dtype=np.float64).tolist()]
