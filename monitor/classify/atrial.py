"""Atrial activity before each QRS: is there a consistent P wave?

RR irregularity alone cannot tell atrial fibrillation from sinus rhythm broken by
ectopy or sinus arrhythmia, and it misses AF whose ventricular response happens to be
fairly regular. The atria tell them apart: in sinus rhythm (with or without ectopy)
every conducted QRS is preceded by the same P wave at the same PR interval, while in
AF there is no P wave, only a fibrillatory baseline unrelated to the QRS. So the
stretch before the R peak, averaged over the last few supraventricular beats aligned
on R, keeps a P wave in sinus rhythm and averages out in AF.

The measure is the **P-wave coherence** of the last `WINDOW_BEATS` N/S beats that
are not premature (`PREMATURE_SHARE`): each
beat's PR stretch (`PR_START_S` to `PR_END_S` before its R peak) with its straight
line removed (what baseline wander does in a quarter of a second), then

    coherence = |mean of the stretches|^2 / mean of |stretch|^2

which is 1 when every stretch is the same waveform (a P wave at a fixed PR interval)
and about 1 / WINDOW_BEATS when they are unrelated (fibrillatory waves, noise). It
does not depend on the amplitude, so a small P wave counts as much as a large one.

Measured on the MIT-BIH DS1 records (130 Hz, lead MLII, reference beat classes, beats
of ecgmon's QRS detector): per beat, coherence in AF had median 0.08 (90th percentile
0.18) and outside AF median 0.81 (10th percentile 0.46), area under the ROC curve
0.99. Removing each stretch's line instead of filtering the whole signal gave the
same separation (0.993 vs 0.992 with the 0.5-40 Hz runtime filter), so the rhythm
stage reads the working-rate signal it already has and runs no second filter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from monitor.classify.beat import ClassifiedBeat
from monitor.classify.sample_history import SampleHistory

WINDOW_BEATS = 12
"""Supraventricular beats averaged (12 beat DS1 AUC 0.993, 8: 0.989, 16: 0.994;
fewer beats answer sooner after a rhythm change)."""
PR_START_S = 0.30
PR_END_S = 0.08
"""The PR stretch before the R peak: a P wave lies 120-200 ms (the PR interval) before
QRS onset, itself about 50 ms before R; ending 80 ms before R leaves the Q wave out."""
SUPRAVENTRICULAR = frozenset("NS")
"""Beats conducted from the atria (in AF a classifier calls many of them S)."""
PREMATURE_SHARE = 0.10
"""A beat whose RR interval is shorter than (1 - this) times the median of the
`RR_BEATS` intervals before it is premature and left out of the coherence, whatever
its label: an ectopic beat the classifier called N (or a PAC) has no sinus P wave at
the usual PR interval, and the stretch before it holds the previous T wave, so
letting it in drags the coherence of sinus rhythm with ectopy towards AF's (and
"P waves absent" lowers the AF thresholds). In AF the beats left out change nothing:
the others still average out. 0 disables it.

Chosen on DS1 (scripts/tune_rhythm.py af, also with --second-lead, each DS1 record's
V1/V2/V4/V5 lead, where the classifier trained on MLII calls more V beats N): AF
duration Se unchanged (95.1% on MLII), specificity on 201/203 with model labels
92.6 -> 94.8% on MLII and 71.6 -> 90.0% on the second lead, false AF there 10 -> 9
episodes in 10 h; with reference labels 92.7 -> 94.8% and 92.1 -> 96.3%. 0.15, 0.20
and 0.25 gave 94.8, 94.4 and 94.5% on MLII and 0.15 87.0% on the second lead."""
RR_BEATS = 8
"""Intervals (between beats of any label) whose median is the reference for
`PREMATURE_SHARE`; fewer than `RR_MIN` of them: no beat is premature."""
RR_MIN = 3
BUFFER_S = 10.0
"""Samples kept from before the latest `feed`, for beats that arrive after their
samples (QRS detector and classifier delay)."""


def pr_stretches(samples: np.ndarray, r_indices: np.ndarray, fs: float) -> np.ndarray:
    """The PR stretch of each R peak (indices into `samples`), its straight line removed.

    Rows are beats; every index must have `PR_START_S` of samples before it."""
    start, end = round(PR_START_S * fs), round(PR_END_S * fs)
    offsets = np.arange(-start, -end)
    rows = np.asarray(samples, dtype=np.float64)[np.asarray(r_indices)[:, None] + offsets]
    t = np.linspace(-1.0, 1.0, offsets.size)
    # (element-wise products and row sums, not a matrix product: each row's result is
    # then the same whatever other rows share the call, so chunking changes nothing)
    rows -= (rows.sum(axis=1) * (1.0 / offsets.size))[:, None]
    rows -= ((rows * t).sum(axis=1) * (1.0 / float(t @ t)))[:, None] * t
    return rows


def p_wave_coherence(stretches: np.ndarray) -> float:
    """|mean stretch|^2 / mean |stretch|^2 of the rows (see the module docstring)."""
    rows = np.asarray(stretches, dtype=np.float64)
    energy = float(np.einsum("ij,ij->", rows, rows)) / rows.shape[0]
    if energy <= 0.0:
        return 0.0
    mean = rows.mean(axis=0)
    return float(mean @ mean) / energy


class AtrialActivity:
    """P-wave coherence per beat over one stream of working-rate samples and beats.

    `feed` the samples as they come, then `measure` the beats found so far (each
    beat's samples must have been fed): the answer for every beat is the coherence of
    the last `WINDOW_BEATS` N/S beats up to it (None until there are that many).
    Results do not depend on chunking.
    `restart` after a gap: stretches are never averaged across missing data.
    """

    def __init__(self, fs: float, first_index: int = 0) -> None:
        self.fs = float(fs)
        self._history = SampleHistory(round(BUFFER_S * self.fs), first_index)
        self._before = round(PR_START_S * self.fs)
        self._offsets = np.arange(-self._before, -round(PR_END_S * self.fs))
        self._t = np.linspace(-1.0, 1.0, self._offsets.size)
        self._inv_tt = 1.0 / float(self._t @ self._t)
        self.restart(first_index)

    def restart(self, first_index: int) -> None:
        """A new run of samples begins at stream sample `first_index`."""
        self._history.restart(first_index)
        # The window as running sums: the last WINDOW_BEATS stretches (zeros before
        # the first), their sum and their summed energy, and how many have been seen.
        self._last = np.zeros((WINDOW_BEATS, self._offsets.size))
        self._last_energy = np.zeros(WINDOW_BEATS)
        self._sum = np.zeros(self._offsets.size)
        self._energy = 0.0
        self._seen = 0
        self._value: float | None = None
        self._prev_beat: int | None = None  # stream index of the last beat measured
        self._rr: deque[int] = deque(maxlen=RR_BEATS)

    def feed(self, samples: np.ndarray) -> None:
        """Append samples (the next ones of the stream)."""
        self._history.feed(samples)  # (all of them stay, with up to BUFFER_S before them)

    def measure(self, beats: Iterable[ClassifiedBeat]) -> list[float | None]:
        """The coherence at each beat (in order), from the samples fed so far."""
        beats = list(beats)
        history = self._history
        lo, hi, start = history.start + self._before, history.end, history.start
        timely = self._timely(beats)
        usable = [
            i
            for i, b in enumerate(beats)
            if b.label in SUPRAVENTRICULAR and lo <= b.index < hi and timely[i]
        ]
        if not usable:
            return [self._value] * len(beats)
        values = self._push(np.array([beats[i].index - start for i in usable]))
        if len(usable) == len(beats) and values[0] is not None:
            self._value = values[-1]
            return values  # (the common case: every beat measured, the window full)
        out: list[float | None] = []
        k = 0
        for i in range(len(beats)):
            if k < len(usable) and usable[k] == i:
                if values[k] is not None:
                    self._value = values[k]
                k += 1
            out.append(self._value)
        return out

    def _timely(self, beats: list[ClassifiedBeat]) -> list[bool]:
        """Per beat: not premature (see `PREMATURE_SHARE`); the RR state moves on.

        One pass over the beats in stream order, so the answer does not depend on how
        the beats are split between calls."""
        if PREMATURE_SHARE <= 0.0:
            return [True] * len(beats)
        keep = 1.0 - PREMATURE_SHARE
        rr, prev = self._rr, self._prev_beat
        out = []
        for b in beats:
            timely = True
            if prev is not None:
                interval = b.index - prev
                if len(rr) >= RR_MIN:
                    ordered = sorted(rr)
                    n = len(ordered)
                    mid = n // 2
                    median = ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
                    timely = interval >= keep * median
                rr.append(interval)
            prev = b.index
            out.append(timely)
        self._prev_beat = prev
        return out

    def _push(self, at: np.ndarray) -> list[float | None]:
        """Add the stretches before buffer indices `at`; the coherence after each.

        Why running sums built with `cumsum`: each stretch enters and (WINDOW_BEATS
        later) leaves the sum in stream order, one addition at a time, so the result
        is the same whether the beats come one per call or hundreds, and a call costs
        a few array operations whatever its number of beats (what `pr_stretches` and
        `p_wave_coherence` compute, in that form)."""
        n = at.size
        new = self._history.values[at[:, None] + self._offsets]
        new -= (new.sum(axis=1) * (1.0 / self._offsets.size))[:, None]
        new -= ((new * self._t).sum(axis=1) * self._inv_tt)[:, None] * self._t
        energy = (new * new).sum(axis=1)
        rows = np.concatenate([self._last, new])
        energies = np.concatenate([self._last_energy, energy])
        sums = np.cumsum(np.concatenate([self._sum[None, :], new - rows[:n]]), axis=0)[1:]
        totals = np.cumsum(np.concatenate([[self._energy], energy - energies[:n]]))[1:]
        self._last, self._last_energy = rows[n:], energies[n:]
        self._sum, self._energy = sums[-1].copy(), float(totals[-1])
        numerators = (sums * sums).sum(axis=1)
        # (a flat line, zero energy, has no P wave: 0)
        scaled = totals * WINDOW_BEATS
        coherence: list[float | None] = (
            numerators / np.where(scaled > 0.0, scaled, np.inf)
        ).tolist()
        first = self._seen
        self._seen += n
        missing = min(n, max(0, WINDOW_BEATS - 1 - first))
        if not missing:
            return coherence
        head: list[float | None] = [None] * missing
        return head + coherence[missing:]
