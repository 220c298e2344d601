"""Beat features: the exact inputs of the beat model, shared by training and runtime.

A beat is described by two things a chest strap can give at the moment the beat
becomes final (when the next R-peak is known):

* its shape: a window of the filtered 130 Hz ECG around the R-peak, normalised by
  its own median and standard deviation (blind to electrode gain),
  stacked with the patient's running average beat (a template: an exponential
  average of the previous beats that were not premature): the model compares the
  beat with the patient's own usual beat rather than with other people's;
* its rhythm: RR before and after, relative to short and long running averages of
  the patient's previous RR intervals, and its amplitude relative to the running
  amplitude of the previous beats.

Everything here is causal: a beat's features depend only on the signal up to the end
of its window, its own neighbouring R-peaks, and the beats before it. The state that
carries the patient context from beat to beat is `ContextState`; the training script
and the streaming runtime both walk the beats through `ContextFeaturizer`, so the model
sees in use exactly what it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FEATURE_VERSION = 3
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
RR_MIN_S, RR_MAX_S = 0.2, 3.0
"""RR intervals are clipped to this range before they update the averages, so one
missed beat or one artefact cannot drag the patient's context far."""
STD_FLOOR_UV = 5.0
"""Below this the window is flat (leads off); it keeps the normalisation finite."""

RR_FEATURES: tuple[str, ...] = (
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
)
"""The rhythm/context vector, in order (see `ContextFeaturizer.step`)."""
N_CONTEXT = len(RR_FEATURES)


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


def cut_windows(signal: np.ndarray, peaks: np.ndarray, offset: int = 0,
                before: int = WINDOW_BEFORE, after: int = WINDOW_AFTER) -> np.ndarray:
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


@dataclass
class ContextState:
    """What the featurizer remembers about the patient's previous beats."""

    rr_short: float | None = None
    rr_prev: float | None = None
    rr_long: float | None = None
    log_amp: float | None = None
    template: np.ndarray | None = field(default=None, repr=False)


class ContextFeaturizer:
    """Turns beats, in order, into model inputs while keeping the patient context."""

    def __init__(self) -> None:
        self.state = ContextState()

    def step(self, window: np.ndarray, log_std: float, rr_pre_s: float | None,
             rr_post_s: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Features of one beat (normalised window, its log std, RR in seconds or None).

        Returns (two-channel wave (2, WINDOW) float32, context vector float32) and then
        folds this beat into the running context.
        """
        st = self.state
        pre = None if rr_pre_s is None else float(np.clip(rr_pre_s, RR_MIN_S, RR_MAX_S))
        post = None if rr_post_s is None else float(np.clip(rr_post_s, RR_MIN_S, RR_MAX_S))
        short = st.rr_short if st.rr_short is not None else (pre or post or 0.8)
        long = st.rr_long if st.rr_long is not None else short
        pre_v = pre if pre is not None else short
        post_v = post if post is not None else short
        amp = st.log_amp if st.log_amp is not None else log_std
        template = st.template if st.template is not None else window
        context = np.array(
            [
                np.log(pre_v / short),
                np.log(post_v / short),
                np.log(pre_v / long),
                np.log(post_v / long),
                np.log(post_v / pre_v),
                np.log(short / long),
                pre_v,
                post_v,
                log_std - amp,
                np.log(pre_v / (st.rr_prev if st.rr_prev is not None else short)),
            ],
            dtype=np.float32,
        )
        wave = np.stack([window, template]).astype(np.float32)
        # Fold this beat into the context (after it has been described).
        if pre is not None:
            st.rr_prev = pre
            st.rr_short = pre if st.rr_short is None else (
                st.rr_short + SHORT_ALPHA * (pre - st.rr_short))
            st.rr_long = pre if st.rr_long is None else (
                st.rr_long + LONG_ALPHA * (pre - st.rr_long))
        st.log_amp = log_std if st.log_amp is None else (
            st.log_amp + AMP_ALPHA * (log_std - st.log_amp))
        if st.template is None:
            st.template = window.astype(np.float64)
        elif pre is None or pre >= TEMPLATE_PREMATURE * long:
            st.template = st.template + TEMPLATE_ALPHA * (window - st.template)
        return wave, context


def featurize(signal: np.ndarray, peaks: np.ndarray,
              fs: float = INPUT_FS) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs for every beat of a whole filtered record (offline, e.g. training).

    `peaks` are ascending R-peak indices into `signal`; the last beat has no RR after.
    Returns (waves (n, 2, WINDOW), context (n, N_CONTEXT)), both float32.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    n = peaks.size
    if n == 0:
        return np.empty((0, 2, WINDOW), np.float32), np.empty((0, N_CONTEXT), np.float32)
    windows, log_std = normalize_windows(cut_windows(signal, peaks))
    rr = np.diff(peaks) / fs
    featurizer = ContextFeaturizer()
    waves = np.empty((n, 2, WINDOW), np.float32)
    context = np.empty((n, N_CONTEXT), np.float32)
    for i in range(n):
        pre = float(rr[i - 1]) if i > 0 else None
        post = float(rr[i]) if i < n - 1 else None
        waves[i], context[i] = featurizer.step(windows[i], float(log_std[i]), pre, post)
    return waves, context
