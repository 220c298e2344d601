"""Beat features: the exact inputs of the beat model, shared by training and runtime.

A beat is described by two things a chest strap can give at the moment the beat
becomes final:

* its shape: a window of the filtered 130 Hz ECG around the R-peak, normalised by
  its own median and standard deviation (blind to electrode gain),
  stacked with the patient's running average beat (a template: an exponential
  average of the previous beats that were not premature): the model compares the
  beat with the patient's own usual beat rather than with other people's;
* its rhythm: RR intervals relative to the patient's own recent RR (running averages
  and the median of the last RR intervals), how irregular the recent rhythm is (in
  atrial fibrillation an early beat is not an ectopic one), how far the beat is from
  the patient's template, and its amplitude relative to the previous beats.

Inter-patient generalisation lives on such patient-relative features: an RR of
0.6 s is premature for one person and normal for another.

Everything here is causal: a beat's features depend only on the signal up to the end
of its window, the R-peaks up to its own (and the next one, only for the features
named `*post*`), and the beats before it. `BeatFeaturizer` carries the patient
context from one batch of beats to the next; the training script (one batch per
record) and the streaming runtime (one batch per chunk) both use it, so the model
sees in use exactly what it was trained on. It is vectorised (exponential averages
with `scipy.signal.lfilter` and carried filter state), with no per-beat Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import lfilter

FEATURE_VERSION = 5
"""Bumped whenever the meaning of a feature changes; the model metadata must match."""

INPUT_FS = 130.0
"""The rate the model reads: the strap's own rate."""

WINDOW_BEFORE = 40
"""Samples before the R-peak (0.31 s at 130 Hz: the P wave of a normal beat)."""
WINDOW_AFTER = 56
"""Samples after the R-peak, R included (0.43 s: the QRS and most of the T wave)."""
WINDOW = WINDOW_BEFORE + WINDOW_AFTER

SHORT_ALPHA = 1.0 / 8.0
"""Weight of the newest RR in the short running average (about the last 8 beats)."""
LONG_ALPHA = 1.0 / 128.0
"""Weight of the newest RR in the long running average (about the last two minutes)."""
TEMPLATE_ALPHA = 1.0 / 16.0
"""Weight of the newest beat in the running average beat (the template)."""
TEMPLATE_PREMATURE = 0.9
"""A beat whose RR before is shorter than this fraction of the long RR average is
premature (ectopic beats mostly are) and does not update the template, so that in
bigeminy the template stays the patient's usual beat instead of a blend."""
AMP_ALPHA = 1.0 / 16.0
"""Weight of the newest beat in the running log-amplitude."""
LOCAL_RR = 10
"""RR intervals in the local median (the patient's current usual RR, robust to the
odd ectopic beat among them)."""
IRREGULAR_RR = 9
"""RR intervals (8 successive differences) in the local irregularity measure."""
RR_MIN_S, RR_MAX_S = 0.2, 3.0
"""RR intervals are clipped to this range before they update the averages, so one
missed beat or one artefact cannot drag the patient's context far."""
P_SEGMENT = slice(0, WINDOW_BEFORE - 10)
"""The window's samples 0.31 s to 0.08 s before the R-peak: where a sinus P wave lies
(an atrial premature beat's P wave differs from the patient's usual one, or hides in
the previous T wave)."""
QRS_SEGMENT = slice(WINDOW_BEFORE - 10, WINDOW_BEFORE + 16)
"""The window's samples 0.08 s before to 0.12 s after the R-peak: the QRS complex
(supraventricular beats keep the usual QRS, ventricular ones do not)."""
PR_STRETCH = slice(WINDOW_BEFORE - 39, WINDOW_BEFORE - 10)
"""The window's samples 0.30 s to 0.08 s before the R-peak at 130 Hz: the PR stretch that
monitor.classify.atrial reads for P-wave coherence (0.99 DS1 AUC for AF against sinus),
here compared beat by beat with the template's after removing each one's straight line
(baseline wander, or the end of the previous T wave, adds a slope)."""
PR_SHORT_STRETCH = slice(WINDOW_BEFORE - 20, WINDOW_BEFORE - 10)
"""The window's samples 0.15 s to 0.08 s before the R-peak: the end of the PR stretch,
which a premature beat's previous T wave reaches less. On the pooled DS1 beats it was
the best of 12 stretches at separating S beats from early N beats where the S rule
fires (ROC AUC 0.78, the whole stretch 0.65), but that choice does not hold across
patients: chosen on the other two folds' beats, two of the three folds picked another
stretch, and the S rule's P-wave condition then lowered the nested DS1 score by about
3 points (`python scripts/ablate_beats.py --pwave-check`). A candidate for
experiments, not a finding."""
NORMAL_ALPHA = 1.0 / 8.0
"""Weight of the newest non-premature RR in the running average of the patient's
usual (non-premature) RR: in bigeminy the plain averages mix the short and long RR."""
STD_FLOOR_UV = 5.0
"""Below this the window is flat (leads off); it keeps the normalisation finite."""

CANDIDATE_FEATURES: tuple[str, ...] = (
    "log_rr_pre_over_short",
    "log_rr_post_over_short",
    "log_rr_pre_over_long",
    "log_rr_post_over_long",
    "log_rr_post_over_pre",
    "log_short_over_long",
    "rr_pre_s",
    "rr_post_s",
    "log_amp_over_running",
    "log_rr_pre_over_previous_rr",
    "log_rr_pre_over_local",
    "log_rr_post_over_local",
    "rr_irregularity",
    "template_corr",
    "log_template_distance",
    "p_corr",
    "log_p_energy_over_template",
    "qrs_corr",
    "log_qrs_distance",
    "log_rr_pre_over_normal",
    "pr_detrended_corr",
    "pr_short_corr",
)
"""Every context feature `BeatFeaturizer` can compute (the training script's ablation
compares subsets of them on DS1 cross-validation); the model reads `RR_FEATURES`."""

RR_FEATURES: tuple[str, ...] = (
    "log_rr_pre_over_short",
    "log_rr_pre_over_long",
    "log_short_over_long",
    "rr_pre_s",
    "log_amp_over_running",
    "log_rr_pre_over_previous_rr",
    "log_rr_pre_over_local",
    "rr_irregularity",
    "template_corr",
    "log_template_distance",
    "log_rr_pre_over_normal",
    "qrs_corr",
)
"""The context vector the shipped model reads, in order: the `rule-inputs` variant of
scripts/ablate_beats.py (feature version 4's `all-no-post` set plus the RR before over
the patient's usual non-premature RR and the QRS correlation with the template, the
inputs of the S rule scripts/train.py bakes into the model). Without the RR after, a
beat need not wait for the next R-peak (issue #7's R-peak-to-class latency)."""
N_CONTEXT = len(RR_FEATURES)
NEEDS_NEXT_R_PEAK = any("post" in name for name in RR_FEATURES)
"""Whether a beat must wait for the next R-peak (its RR after) before it is classified."""


def normalize_windows(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median-centre and scale each window by its own standard deviation.

    Returns (normalised windows as float32, natural log of each window's std in uV).
    Depends on nothing but the window itself.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[None, :]
    if raw.size and not np.isnan(raw).any():
        # np.median's and ndarray.std's values (the same partition, sums and divisions),
        # without their per-call overhead: this runs once per chunk of beats.
        centred = raw - _median_full(raw)[:, None]
        k = raw.shape[1]
        dev = centred - np.add.reduce(centred, axis=1, keepdims=True) / k
        std = np.sqrt(np.add.reduce(np.square(dev, out=dev), axis=1) / k)
    else:
        centred = raw - np.median(raw, axis=1, keepdims=True)
        std = centred.std(axis=1)
    std = np.maximum(std, STD_FLOOR_UV)
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
    if signal.size == 0:
        raise ValueError("no signal to cut beat windows from")
    idx = peaks[:, None] + np.arange(-before, after)[None, :]
    if peaks.size and (peaks.min() < before or peaks.max() + after > signal.size):
        np.clip(idx, 0, signal.size - 1, out=idx)
    return np.asarray(signal, dtype=np.float64)[idx]


def _ema_before(
    x: np.ndarray, alpha: float, state: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exponential average of the rows of `x`: the value *before* each row is folded in.

    `state` is the average so far (None: none yet, the first row starts it). Returns
    (averages before each row, shape of x; the average after the last row).
    """
    every = _ema_all(x, alpha, state)
    return every[:-1], every[-1]


SMALL_EMA_ROWS = 4
"""Up to this many rows of windows, `_ema_all` runs the recurrence row by row."""
SMALL_EMA_VALUES = 32
"""Up to this many scalars (RR intervals, amplitudes), it runs it on Python floats."""


def _ema_all(x: np.ndarray, alpha: float, state: Any) -> np.ndarray:
    """The exponential average before the first row of `x` and after each row: the
    state carried in (or x[0] when None), then the state after each row, len(x) + 1 rows.

    A live chunk holds one or two beats, where scipy's lfilter costs ~20 us per call in
    argument handling for two multiplications: small inputs run `_ema_steps`, the same
    recurrence with the same floating-point operations in the same order (the same
    values to the bit, tests/classify/test_ema_exact.py), larger ones lfilter."""
    if state is None:
        state = x[0].astype(np.float64)
    small = SMALL_EMA_VALUES if x.ndim == 1 else SMALL_EMA_ROWS
    if len(x) <= small and x.dtype == np.float64:
        return _ema_steps(x, alpha, state)
    zi = ((1.0 - alpha) * state)[None, ...]
    after, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return np.concatenate([state[None, ...], after], axis=0)


def _ema_steps(x: np.ndarray, alpha: float, state: Any) -> np.ndarray:
    """lfilter([alpha], [1, alpha - 1], x, zi=(1 - alpha) * state) along axis 0, with
    `state` in front, step by step. lfilter's direct form II transposed, with b padded
    to [alpha, 0] and a = [1, alpha - 1], does per sample: y = z + b0 * x, then
    z = x * b1 - y * a1; so does this (x * 0.0 too: it keeps NaN and the sign of zero
    as lfilter has them)."""
    b0, b1, a1 = alpha, 0.0, alpha - 1.0
    if x.ndim == 1:
        state_f = float(state)
        z = (1.0 - alpha) * state_f
        out = [state_f]
        for v in x.tolist():
            y = z + b0 * v
            z = v * b1 - y * a1
            out.append(y)
        return np.array(out, dtype=np.float64)
    rows = np.empty((len(x) + 1, *x.shape[1:]), dtype=np.float64)
    rows[0] = state
    zr = (1.0 - alpha) * np.asarray(state, dtype=np.float64)
    with np.errstate(all="ignore"):  # lfilter warns of nothing either (NaN windows)
        for i, v in enumerate(x, start=1):
            yr = zr + b0 * v
            zr = v * b1 - yr * a1
            rows[i] = yr
    return rows


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
    nan = np.isnan(hist)
    if not nan.any():
        return _median_full(hist)
    out = np.full(hist.shape[0], np.nan)
    full = ~nan.any(axis=1)
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
    return _correlation(w, t)[0], _distance(w, t)


def _correlation(w: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correlation, sum of squares of w centred, of t centred) of matching rows.

    Runs once per chunk of beats: the sums are np.add.reduce (what np.sum and
    ndarray.sum run, so the same values) and the squares are taken in place.
    """
    add = np.add.reduce
    k = w.shape[1]
    wc = w - add(w, axis=1, keepdims=True) / k
    tc = t - add(t, axis=1, keepdims=True) / k
    prod = wc * tc
    ww = add(np.square(wc, out=wc), axis=1)
    tt = add(np.square(tc, out=tc), axis=1)
    return add(prod, axis=1) / np.maximum(np.sqrt(ww * tt), 1e-9), ww, tt


def _distance(w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Log RMS distance of matching rows (0.05 keeps it finite for identical rows)."""
    diff = w - t
    return np.log(np.sqrt(np.add.reduce(np.square(diff, out=diff), axis=1) / w.shape[1]) + 0.05)


def _segment_similarity(w: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correlation, log RMS distance, log std ratio) of matching segments of w and t."""
    corr, ww, tt = _correlation(w, t)
    energy = 0.5 * np.log((ww + 0.01 * w.shape[1]) / (tt + 0.01 * w.shape[1]))
    return corr, _distance(w, t), energy


TEMPLATE_FEATURES: tuple[str, ...] = (
    "template_corr",
    "log_template_distance",
    "p_corr",
    "log_p_energy_over_template",
    "qrs_corr",
    "log_qrs_distance",
    "pr_detrended_corr",
    "pr_short_corr",
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
    if "qrs_corr" in names:
        out["qrs_corr"] = _correlation(w[:, QRS_SEGMENT], t[:, QRS_SEGMENT])[0]
    if "log_qrs_distance" in names:
        out["log_qrs_distance"] = _distance(w[:, QRS_SEGMENT], t[:, QRS_SEGMENT])
    if "pr_detrended_corr" in names:
        out["pr_detrended_corr"] = template_corr_detrended(w[:, PR_STRETCH], t[:, PR_STRETCH])
    if "pr_short_corr" in names:
        out["pr_short_corr"] = template_corr_detrended(
            w[:, PR_SHORT_STRETCH], t[:, PR_SHORT_STRETCH]
        )
    return out


def template_corr_detrended(w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Correlation of matching rows after removing each row's straight line: a P wave
    against the template's, blind to the slope baseline wander or a T wave's end adds."""
    return _correlation(_detrend_rows(w), _detrend_rows(t))[0]


def _detrend_rows(x: np.ndarray) -> np.ndarray:
    """Each row less its least-squares straight line (what scipy.signal.detrend does,
    as two row sums: the rows are short and many)."""
    k = x.shape[1]
    line = np.linspace(-1.0, 1.0, k)
    centred = x - np.add.reduce(x, axis=1, keepdims=True) / k
    slope = np.add.reduce(centred * line, axis=1) / float(line @ line)
    return centred - slope[:, None] * line


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
        # One chunk of a live stream or replay holds ~1-80 beats, so the cost here is
        # per numpy call, not per beat: the common case (every beat has its RR before,
        # every beat updates the template) skips the index arrays the general one needs.
        windows64 = np.asarray(windows, dtype=np.float64)
        log_std = np.asarray(log_std, dtype=np.float64)
        pre = np.minimum(np.maximum(np.asarray(rr_pre, dtype=np.float64), RR_MIN_S), RR_MAX_S)
        post = np.minimum(np.maximum(np.asarray(rr_post, dtype=np.float64), RR_MIN_S), RR_MAX_S)
        have_pre = ~np.isnan(pre)
        every_pre = bool(have_pre.all())

        # Running RR averages before each beat (only beats with an RR before update them).
        # Rank of each beat among those with an RR before: the state it sees is the
        # one after the previous such beat.
        if every_pre:
            seen = np.arange(n)
            rr_known = pre
        else:
            seen = np.cumsum(have_pre) - have_pre  # updates strictly before beat i
            rr_known = pre[have_pre]
        short_prev, long_prev = st.rr_short, st.rr_long
        if rr_known.size:
            s_all = _ema_all(rr_known, SHORT_ALPHA, st.rr_short)
            l_all = _ema_all(rr_known, LONG_ALPHA, st.rr_long)
            st.rr_short, st.rr_long = s_all[-1], l_all[-1]
        else:
            s_all = np.array([np.nan if short_prev is None else float(short_prev)])
            l_all = np.array([np.nan if long_prev is None else float(long_prev)])
        short = s_all[:n] if every_pre else s_all[seen]
        long = l_all[:n] if every_pre else l_all[seen]
        # Before the very first update there is no average yet: the beat's own RR.
        if short_prev is None:
            fallback = np.where(np.isnan(post), 0.8, post)
            fallback = np.where(have_pre, pre, fallback)
            short = short.copy()
            none_yet = np.isnan(short) | (seen == 0)
            short[none_yet] = fallback[none_yet]
        if long_prev is None:
            long = long.copy()
            none_yet = np.isnan(long) | (seen == 0)
            long[none_yet] = short[none_yet]
        pre_v = pre if every_pre else np.where(have_pre, pre, short)
        post_v = np.where(np.isnan(post), short, post)

        # The last RR intervals before each beat: previous RR, local median, irregularity.
        hist = np.concatenate([st.rr_history, rr_known])
        # In hist, the RR intervals before beat i are hist[pos - LOCAL_RR:pos].
        first = seen + (st.rr_history.size - LOCAL_RR)
        window_rr = hist[first[:, None] + np.arange(LOCAL_RR)]
        prev_rr = window_rr[:, -1]
        prev_rr = np.where(np.isnan(prev_rr), short, prev_rr)
        local = _rows_median(window_rr)
        local = np.where(np.isnan(local), short, local)
        # |successive differences| of the last IRREGULAR_RR intervals, taken once on hist.
        steps = np.abs(hist[1:] - hist[:-1])
        lag = LOCAL_RR - IRREGULAR_RR
        irregular = _rows_median(steps[(first + lag)[:, None] + np.arange(IRREGULAR_RR - 1)])
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
        if qualifies.all():
            t_all = _ema_all(windows64, TEMPLATE_ALPHA, st.template)
            template = t_all[:n]
            st.template = t_all[-1]
        elif qualifies.any():
            q = np.flatnonzero(qualifies)
            t_all = _ema_all(windows64[q], TEMPLATE_ALPHA, st.template)
            template = t_all[np.searchsorted(q, np.arange(n), side="left")]
            st.template = t_all[-1]
        else:
            assert st.template is not None  # the first beat of a stream always qualifies
            template = np.broadcast_to(st.template, windows64.shape)
        # Running average of the usual RR: the RR before of the non-premature beats.
        normal = short
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
        wave = np.empty((n, 2, WINDOW), np.float32)
        wave[:, 0] = windows64
        wave[:, 1] = template
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
