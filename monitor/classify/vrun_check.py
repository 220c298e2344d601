"""Is a run of beats called V a ventricular run, or beats at the patient's usual rate?

Ventricular couplets and non-sustained VT are ectopic: an ectopic focus fires before
the sinus node would, so somewhere in the run an interval is short against the
patient's underlying rhythm: the run starts early (a premature ventricular beat
triggers it) or runs faster than the sinus rhythm (tachycardia). Beats the
classifier calls V that come at the usual RR all along are something else:
ventricular paced beats (wide, at the pacing rate), normal beats that look wide in
this lead or under noise, or an idioventricular escape rhythm. On the MIT-BIH records
with model labels, most false 3+ V runs and couplets outside the classifier's
training records were of that kind (the paced records 104 and 217, normal beats of
233 called V), and so were most of the false runs that DS1's out-of-fold labels make
(112: runs of normal beats at the sinus rate called V, `scripts/tune_rhythm.py
ectopy --labels oof`).

Why the fastest interval and not only the onset: a late-coupled (end-diastolic)
ventricular beat arrives about when the next sinus beat is due, so a true couplet
can start at the usual RR; its second beat then follows quickly (DS1 record 208,
reference labels: about a third of its couplets start at 0.95 or more of the usual
RR, nearly all have an interval below 0.9 of it).

So a run (couplet, triplet, NSVT, VT) is reported only when its **fastest interval**
(the RR into its first beat, or between two of its beats) is below
`RhythmConfig.vrun_fast_ratio` times the patient's usual RR: the median of the last
8 N-N intervals before the run (`RhythmConfig.rate_beats`, the intervals the heart
rate is measured on; not tuned). The check needs only the beat stream (no signal, so
no gain or lead dependence) and costs a median of eight numbers per run. When the
usual RR is not known (the first beats, after a gap) the run is kept, as before the
check existed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

MIN_INTERVALS = 4
"""Fewer N-N intervals than this and the usual RR is unknown (the check is off)."""


def usual_rr(intervals: Sequence[float]) -> float | None:
    """The patient's usual RR in seconds: the median of the latest N-N intervals, or
    None while fewer than MIN_INTERVALS are known."""
    if len(intervals) < MIN_INTERVALS:
        return None
    # (statistics, not numpy: for eight numbers numpy's call overhead is most of the
    # cost, and the median is the same float: the middle value or the mean of two)
    return float(statistics.median(intervals))


def fastest_rr(onset_rr_s: float | None, beat_times_s: Sequence[float]) -> float | None:
    """The shortest of the RR into a run's first beat (None when unknown) and the
    intervals between its beats (times in seconds, ascending); None if there is none."""
    rr = np.diff(np.asarray(beat_times_s, dtype=np.float64))
    candidates = [float(rr.min())] if rr.size else []
    if onset_rr_s is not None:
        candidates.append(onset_rr_s)
    return min(candidates) if candidates else None


def is_fast(fastest_rr_s: float | None, usual_rr_s: float | None, ratio: float) -> bool:
    """Whether a run may be ventricular: its fastest interval is below `ratio` times the
    usual RR. Unknown values keep the run (True), as does ``ratio = inf`` (check off)."""
    if fastest_rr_s is None or usual_rr_s is None or not np.isfinite(ratio):
        return True
    return fastest_rr_s < ratio * usual_rr_s
