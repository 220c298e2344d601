"""Streaming rhythm analysis: classified beats + per-second quality -> episodes.

What a patient or clinician needs is not a beat label but "when did the rhythm go
wrong, and can I trust it". `RhythmAnalyzer` turns the beat stream (R-peak times,
RR intervals and N/S/V/F/Q labels) and the per-second verdicts of the signal-quality
and VF stages into **episodes**: kind, start, end, confidence and the evidence
(beat indices, RR values) that decided it.

Kinds and the rules behind them (all thresholds live in `RhythmConfig`):

* ``af``: atrial fibrillation/flutter with irregular ventricular response. The
  irregularity of the RR series over a sliding window of ``af_window`` intervals is
  the median absolute successive RR difference divided by the median RR, computed on
  N-N intervals only: RR intervals touching an S, V, F or Q beat are left out so that
  ectopy, which also makes RR irregular, does not read as AF; when more than
  ``af_max_ectopic_share`` of the window touches ectopic beats the decision holds.
  Ectopy the classifier missed is explained by the RR series itself: AF is
  irregularly irregular, so intervals 2 or 3 beats apart differ as much as successive
  ones, while in bigeminy, trigeminy or a 2:1/3:2 conduction pattern (regularly
  irregular) they nearly all agree. When the upper quartile of the lag-k differences
  (k in ``af_lags``) is below ``af_pattern_ratio`` times the lag-1 median, the lag-k
  median is the irregularity (in a random series the upper quartile of |difference|
  is about 1.7 times its median, so chance alone rarely passes the test).
  This follows the RR-irregularity-after-ectopy-removal design of the low-complexity
  detector of Petrenas, Marozas and Sornmo, "Low-complexity detection of atrial
  fibrillation in continuous long-term monitoring", Comput. Biol. Med. 65:184-191
  (2015) (short window, ectopic beat handling, hysteresis), with a robust
  median-based irregularity in place of their exact statistic. The window's median
  crosses the threshold about half a window after the rhythm changed, so an episode's
  start and end are put at the irregular interval pairs that bound it (see
  `RhythmAnalyzer._af_edge`), and when N-N intervals run out (ectopy, paced or
  unclassified beats) AF ends at the last pair of them.
  Atrial activity is the second source of evidence: the P-wave coherence of the last
  supraventricular beats (`monitor.classify.atrial`, fed by the rhythm stage from the
  signal). With clear P waves (``af_p_clear``) an irregular RR series is sinus
  arrhythmia or ectopy: no AF begins and AF in progress ends; with P waves absent
  (``af_p_absent``) AF begins above ``af_on_no_p`` and ends below ``af_off_no_p``,
  lower than ``af_on`` / ``af_off``, which catches AF with a fairly regular response.
  Without the signal (beats alone) AF is decided on the RR series as before.
  Episodes shorter than
  30 s are not reported, the minimum the ESC 2020 guidelines (Hindricks et al., Eur
  Heart J 42:373-498, 2021) require to call an episode AF; 30 s of analysed signal:
  a short unreadable gap inside AF not yet confirmed does not count
  (``af_gap_counts``).
* ``brady`` / ``tachy``: mean rate over the last ``rate_beats`` N-N intervals below
  ``brady_bpm`` (default 50/min) or above ``tachy_bpm`` (100/min) for at least
  ``rate_min_s``. The 2018 ACC/AHA/HRS bradycardia guideline (Kusumoto et al.,
  Circulation 140:e382-e482, 2019, section 2 definitions) defines sinus bradycardia
  as a sinus rate below 50/min (the older convention, 60/min, flags many healthy
  resting adults; set ``brady_bpm`` to 60 for it); 100/min is the conventional upper
  resting limit. Sinus bradycardia is a slow *sinus* rhythm, so ``brady`` needs
  regular N-N intervals (the AF irregularity known and below ``af_on``) and ends when
  AF begins, or once the rate has been back above the limit for ``brady_end_s``
  (10 s, as long as it must be below to begin), so that pauses inside a sinus
  bradycardia do not split it into many episodes.
* ``pause``: an RR interval longer than ``pause_s`` (2.0 s) between two analysed
  beats with nothing unreadable in between, and, when the signal is given, a quiet
  gap: a QRS-like deflection in it at ``pause_missed_beat_ratio`` of the patient's
  recent beats or more (`monitor.classify.pause_check`) means a beat the detector
  likely missed (or artefact), so the pause is not confirmed and not reported.
* ventricular runs: ``couplet`` (2 V in a row), ``triplet`` (3), ``nsvt`` (4 or more,
  shorter than ``sustained_vt_s``), ``vt`` (sustained: ``sustained_vt_s`` = 30 s or
  longer, reported as soon as it reaches that length). Runs of 3 or more count only
  faster than ``vrun_min_bpm``: slower ones are idioventricular, and most are wide
  normal beats the classifier called V.
* ``svt``: three or more S beats in a row faster than ``tachy_bpm``.
* ``bigeminy`` / ``trigeminy``: a V beat every 2nd / 3rd beat for at least
  ``pattern_cycles`` cycles in a row.
* For all the ectopy rules above (runs, SVT, bigeminy/trigeminy) a V or S call the
  beat classifier is less sure of than ``ectopy_min_confidence`` counts as unknown:
  it ends a run or pattern rather than making one.
* ``vf``: ventricular flutter/fibrillation, from `monitor.classify.vf` (no QRS
  detection involved); beats inside VF are not analysed. A VF-like second while the
  quality stage still sees QRS complexes standing out (peak ratio below
  ``vf_min_peak_ratio``) is a beating heart under noise, not VF.
* ``unreadable``: a stretch the quality stage could not read (with its reason), or
  a stretch with no data at all (a gap). Nothing else is derived from it: beats in
  it are ignored and an episode in progress is closed at the last readable beat.

Streaming and pure: `process` takes whatever beats and seconds have arrived and
returns the episode events now decided. A beat is analysed once the verdicts of its
second (and ``vf.CONFIRM_SECONDS - 1`` more) are known, and each decision depends on
the beats and seconds only, never on how they were chunked. Lasting episodes are
reported twice: once when confirmed (``final=False``, so an alert can be raised while
it lasts) and once when over (``final=True``); short ones only when over.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from monitor.classify.af_ectopy import unexplained_irregularity
from monitor.classify.atrial import AtrialActivity
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.pause_check import GapActivity
from monitor.classify.vf import CONFIRM_SECONDS, HOLD_SECONDS, VfSecond
from monitor.classify.vrun_check import fastest_rr, is_fast, usual_rr
from monitor.signal.quality import QualitySecond

EPISODE_KINDS: tuple[str, ...] = (
    "af",
    "brady",
    "tachy",
    "pause",
    "couplet",
    "triplet",
    "nsvt",
    "vt",
    "svt",
    "bigeminy",
    "trigeminy",
    "vf",
    "unreadable",
)

NO_DATA = "no data (gap in the stream)"
STATUS_MEMORY_S = 3600
"""Second verdicts older than this are forgotten even when no beat has come since (an
hour without a beat is an interruption anyway)."""
SUPRAVENTRICULAR = frozenset("NS")
"""Beats that may sit between the V beats of a bigeminy/trigeminy pattern; fusion (F)
or unknown (Q) beats break it."""
ECTOPIC = frozenset("VS")
AF_BEATS = frozenset("NS")
"""Beats whose intervals enter the AF irregularity."""
VF_OVERRIDES = frozenset({"noise", "baseline wander"})
"""Unreadable reasons a VF verdict overrides (see `RhythmAnalyzer._vf_like`)."""


@dataclass(frozen=True)
class RhythmConfig:
    """Every threshold of the rhythm rules, with the defaults the module docstring cites."""

    brady_bpm: float = 50.0
    tachy_bpm: float = 100.0
    rate_beats: int = 8
    rate_min_s: float = 10.0
    brady_end_s: float = 10.0
    """A confirmed sinus bradycardia ends once the rate has been back above
    ``brady_bpm`` + 2 for this long (then at the beat where it rose): the same time
    ``rate_min_s`` asks below the limit to begin one, so a sinus pause or a few faster
    beats inside the rhythm do not split it (sinus arrest inside bradycardia is one
    clinical episode). Set up front by that symmetry, not tuned (DS1 has no sinus
    bradycardia label); 0 ends it at the first faster rate, as before."""
    pause_s: float = 2.0
    pause_missed_beat_ratio: float = 0.25
    """Gap activity (`monitor.classify.pause_check`: the largest QRS-band deflection
    in the gap over the median of the last beats) at or above which a long interval
    is a likely missed beat, not a pause. Chosen on DS1 (`scripts/tune_rhythm.py
    pause`, the largest Se + +P of pause episodes; ties to the highest ratio, which
    suppresses the fewest real pauses). ``math.inf`` disables (every long interval a
    pause, as without the signal)."""
    sustained_vt_s: float = 30.0
    pattern_cycles: int = 3
    vrun_min_bpm: float = 75.0
    """Runs of 3+ V beats count as ventricular tachycardia only above this rate. NSVT
    is defined as 3 or more consecutive ventricular beats above 100/min (ACC/AHA/ESC
    2006 ventricular arrhythmia guideline, Zipes et al.), but a 3-beat run's rate is
    measured over two intervals only: on DS1 with reference labels 100/min lost 4 of
    39 `(VT` episodes, 75/min none, and both removed every slow false run."""
    vrun_fast_ratio: float = 0.95
    """A couplet or run of V beats is reported only when its fastest interval (into its
    first beat or between its beats) is below this times the patient's usual RR (the
    median of the last 8 N-N intervals): ventricular runs start early or run fast;
    V-called beats at the usual rate are paced or normal beats
    (`monitor.classify.vrun_check`). ``math.inf`` disables. Chosen on DS1 with
    out-of-fold model labels (`scripts/tune_rhythm.py ectopy --labels oof`: each
    record labelled by a model that did not train on it), as the largest Se + +P of
    3+ V runs and couplets, losing no run with reference labels: off, runs 51.3/52.6
    and couplets 68.7/82.1; 1.0: 51.3/54.1, 68.7/82.3; 0.95: 51.3/60.6, 68.7/84.1;
    0.9: 51.3/62.5, 66.7/84.0; 0.85: couplets 58.8/83.1. With reference labels 0.95
    keeps every DS1 run and couplet (the closest true one, a late-coupled couplet of
    208, is at 0.944), 0.9 loses 2.3 points of couplet Se. Not a ratio of the
    classifier's outputs, so it carries over to another beat model."""
    svt_min_beats: int = 3
    af_window: int = 16
    af_min_pairs: int = 8
    af_on: float = 0.10
    af_off: float = 0.07
    af_max_ectopic_share: float = 0.5
    af_min_s: float = 30.0
    af_lags: tuple[int, ...] = (1, 2, 3)
    """Lags of the RR differences: 1 is the irregularity, 2 and 3 test for a pattern."""
    af_pattern_ratio: float = 1.3
    """Chosen on DS1 (scripts/tune_rhythm.py af): 1.1-1.5 all took false AF on the
    other DS1 records from 12 to 0-2.4 per 24 h at unchanged Se."""
    af_long_rr_factor: float = 1.7
    """N-N intervals longer than this times the recent median are left out of the AF
    statistic (a missed beat doubles an interval); 0 disables."""
    af_stale_factor: int = 4
    """N-N intervals older than this many windows of beats no longer count for AF."""
    af_displaced_ratio: float = 0.25
    """A pair of successive N-N intervals that differ by more than the lowest AF
    threshold is one displaced beat (ectopy with its pause, or a late R peak), not a
    change of rhythm, when their sum is within this times their difference of two
    typical intervals (`monitor.classify.af_ectopy`); the AF irregularity is then the
    median over the other pairs, when at least ``af_min_pairs`` are left. 0 disables.

    Chosen on DS1 (`scripts/tune_rhythm.py af --labels model --set
    af_displaced_ratio=X`, rule stated first: the value with the least AF-stretch time
    on the non-AF DS1 records whose 201/203 AF duration Se stays within 0.5 points and
    specificity does not drop): 0.25 took that margin from 134 to 94 s at unchanged
    Se/specificity (0.5: 57 s, but Se 95.1 -> 94.0%). Kept at the DS1 choice although
    the other records show a cost as well as the gain: model labels, false AF 4.8 ->
    1.2 per 24 h (200: 4 -> 1) but AF duration Se 86.4 -> 85.2% (210: 95.7 -> 90.6%,
    AF without P waves at an irregularity near 0.10, where the pairs left out by
    chance pull it under the threshold after each interruption); reference labels:
    3.6 -> 1.2 per 24 h, Se 86.7 -> 85.7%. Choosing on those figures either way
    would be choosing on the test records; a false alarm every few hours costs a
    patient's trust in every alarm."""
    af_gap_counts: bool = False
    """Whether the unreadable time of a short gap (below ``bridge_s``) inside AF not
    yet confirmed counts towards its ``af_min_s``. The AF window is kept across such a
    gap, but the unconfirmed episode is dropped there and a new one opens after it, so
    counting the gap let a few seconds after it be reported as confirmed AF (paced
    record 107, its beats called N: two episodes of 0 s, after 26 s of AF state with
    about 4 s unreadable in it). Off (the default): only analysed time counts, the
    gap is added to the wait; AF confirmed before a gap still goes on at once after
    it. Not tuned: True is the behaviour before. The cost is later confirmation in a
    very noisy trace: DS1 on MLII unchanged, on the DS1 second leads AF Se 67.5 ->
    65.5% (203's V1, a quarter of its AF unreadable; `scripts/tune_rhythm.py af
    --second-lead --set af_gap_counts=True`)."""
    af_p_clear: float = 0.45
    """P-wave coherence (`monitor.classify.atrial`) at or above which P waves are
    clear: irregular RR is then sinus arrhythmia or ectopy, so no AF begins and AF in
    progress ends. ``math.inf`` disables."""
    af_p_absent: float = 0.25
    """P-wave coherence below which P waves are absent: AF then begins above
    ``af_on_no_p`` and ends below ``af_off_no_p`` instead of ``af_on`` / ``af_off``.
    0 disables."""
    af_on_no_p: float = 0.08
    af_off_no_p: float = 0.05
    """The four atrial settings were chosen on DS1 (scripts/tune_rhythm.py af, model
    labels: 201, 203 and the other DS1 records for false AF). The coherence limits lie
    in the gap between DS1's per-beat AF 90th percentile (0.18) and non-AF 10th
    percentile (0.46); 0.4-0.5 and 0.25-0.35 gave the same Se (0.2 lost 0.9 points).
    ``af_on_no_p`` 0.06 and ``af_off_no_p`` 0.04 each made a false AF episode in 220,
    ``af_off_no_p`` 0.07 lost 2 points of Se in 203; 0.07-0.10 and 0.05-0.06 tied:
    0.08 (the middle) and 0.05."""
    vf_min_peak_ratio: float = 0.15
    """A VF-like second whose QRS-band envelope has median / 98th percentile below this
    (the quality stage's peak ratio: QRS complexes stand out) is not VF. Real VF
    seconds of the odd-numbered CUDB records have 0.2 or more in 95% of cases; on DS1
    mixed with NSTDB noise at 6 dB this took VF episodes from 37 to 13."""
    noise_guard_s: int = 0
    """Within this many seconds of an unreadable second, beat classes are not trusted
    for the ectopy rules and long intervals are not pauses. Off by default: 2 s cut
    false alarms under noise (DS1 + NSTDB em, 6 dB, model labels) from 2.5 to 2.1 per
    hour (before triplets stopped alerting) but lost 23 points of V-run sensitivity on
    DS1 with reference labels (VT itself often reads as noise nearby)."""
    ectopy_min_confidence: float = 0.7
    """A V or S call the beat classifier is less sure of than this counts as unknown
    (Q) for the ectopy rules (runs, couplets, bigeminy/trigeminy, SVT): it ends a run
    or pattern instead of making one. AF and the rate are unaffected (V, S, Q are
    treated there as before). The confidences depend on the beat model, so the cut is
    chosen anew on DS1 (model labels) for each shipped model, as the one with the
    largest Se + +P of 3+ V runs and couplets (`scripts/tune_rhythm.py ectopy`). For
    the feature-version-5 model: cut 0 gives runs 84.6/77.8, couplets 95.4/90.4;
    0.7 gives 84.6/92.1 and 95.9/92.0 (tied with 0.75; 0.8: 82.1/92.1, 94.7/93.5;
    0.9: 76.9/97.2, 88.0/94.8). Those labels are in-sample; with DS1 out-of-fold
    labels (`--labels oof`, with ``vrun_fast_ratio`` 0.95) the same rule would pick
    0.6, the lowest cut tried (0.6: runs 53.8/72.4, couplets 75.3/82.5; 0.7: 51.3/60.6, 68.7/84.1;
    0.8: 51.3/76.9, 63.1/87.6; 0.9: 41.0/94.1, 52.9/89.3), but the fold models'
    probabilities are not the shipped model's, so the cut was not moved on them."""
    bridge_s: float = 10.0
    """An unreadable stretch shorter than this keeps the AF window (the RR spanning it
    is dropped); a longer one restarts the analysis from scratch."""


@dataclass(frozen=True)
class Evidence:
    """What decided an episode: the beats (working-rate sample indices) and RR values."""

    beat_indices: tuple[int, ...] = ()
    rr_s: tuple[float, ...] = ()
    measure: float | None = None
    """The rule's statistic when it has one (AF irregularity, mean rate in bpm, ...)."""


@dataclass(frozen=True)
class Episode:
    """One rhythm episode (or an unreadable stretch), as an event.

    id: stable within one analyzer, shared by the onset and the final event.
    final: False for the onset of a lasting episode (end_s is then the time of
        confirmation), True once it is over.
    reason: for ``unreadable``, why.
    """

    id: str
    kind: str
    start_s: float
    end_s: float
    confidence: float
    evidence: Evidence = field(default_factory=Evidence)
    final: bool = True
    reason: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class _Open:
    """An episode in progress in the beat machine."""

    id: str
    kind: str
    start_s: float
    evidence: Evidence
    confidence: float
    confirmed: bool = False


@dataclass
class _Run:
    """A run of consecutive beats of one class (V runs, S runs)."""

    beats: list[ClassifiedBeat] = field(default_factory=list)
    onset_rr: float | None = None
    """The RR into the first beat (None: unknown)."""
    usual_rr: float | None = None
    """The usual N-N RR when the run began (`vrun_check.usual_rr`; None: unknown)."""

    def fast(self, ratio: float) -> bool:
        """Ventricular by its intervals (`vrun_check.is_fast`)."""
        times = [b.time_s for b in self.beats]
        return is_fast(fastest_rr(self.onset_rr, times), self.usual_rr, ratio)

    @property
    def duration_s(self) -> float:
        return self.beats[-1].time_s - self.beats[0].time_s if self.beats else 0.0


@dataclass
class _Pattern:
    """Chain of V beats spaced exactly `period` beats apart (bigeminy 2, trigeminy 3)."""

    period: int
    last_v: int = -10
    chain: int = 0
    start_s: float = 0.0
    start_index: int = 0


class RhythmAnalyzer:
    """Streaming rhythm analysis; see the module docstring for the rules."""

    def __init__(self, config: RhythmConfig | None = None, expects_vf: bool = True) -> None:
        self.config = config or RhythmConfig()
        self.expects_vf = expects_vf
        self._beats: deque[ClassifiedBeat] = deque()
        self._quality: dict[int, QualitySecond] = {}
        self._vf: dict[int, VfSecond] = {}
        self._next_second = 0  # next second to settle
        self._status: dict[int, str] = {}  # settled seconds: "ok" | "vf" | reason
        self._counter: dict[str, int] = {}
        # second machine
        self._bad: tuple[int, Counter[str]] | None = None  # (start, reasons) of unreadable run
        self._vf_run: tuple[int, str | None] | None = None  # (start, id once confirmed)
        self._vf_last = -(10**9)  # last second in a confirmed run of VF-like seconds
        # beat machine
        self._reset_beats()
        self._af_state = False
        self._af_since = 0.0  # where the AF in progress began (its irregular edge)
        self._af_found = 0.0  # where its window crossed the threshold, for af_min_s
        self._af_ended = -math.inf  # end of the last AF episode
        self._af_gap_from: float | None = None  # where a gap in unconfirmed AF began
        self._last_mark_s = 0.0  # end of the newest N-N interval pair
        self._regular = False  # the N-N intervals are known and not irregular
        self._atrial: deque[tuple[int, float | None]] = deque()  # (beat index, coherence)
        self._p: float | None = None  # P-wave coherence at the last AF decision
        self._gaps: dict[int, float] = {}  # beat index -> gap activity before it
        self._usual_kept: float | None = None  # usual RR from before a short interruption

    # -- public -----------------------------------------------------------------------

    def process(
        self,
        beats: Iterable[ClassifiedBeat] = (),
        quality: Iterable[QualitySecond] = (),
        vf: Iterable[VfSecond] = (),
        atrial: Iterable[tuple[int, float | None]] = (),
        gaps: Iterable[tuple[int, float]] = (),
    ) -> list[Episode]:
        """Feed what has arrived (each stream in time order); return the episodes decided.

        atrial: (beat index, P-wave coherence at that beat) from
        `monitor.classify.atrial.AtrialActivity`, in beat order; without it AF is
        decided from the RR series alone.
        gaps: (beat index, gap activity of the interval before it) from
        `monitor.classify.pause_check.GapActivity`; a long interval without a value
        is a pause unchecked."""
        self._beats.extend(beats)
        self._atrial.extend(atrial)
        self._gaps.update(gaps)
        for q in quality:
            self._quality[q.index] = q
        for v in vf:
            self._vf[v.index] = v
        out: list[Episode] = []
        self._advance_seconds(out, final=False)
        self._advance_beats(out, final=False)
        self._prune()
        return out

    def _prune(self) -> None:
        """Forget second verdicts no beat can need any more (memory stays flat)."""
        limit = self._next_second
        if self._beats:
            limit = min(limit, math.floor(self._beats[0].time_s))
        if self._prev is not None:
            limit = min(limit, math.floor(self._prev.time_s))
        limit = max(limit - self.config.noise_guard_s, self._next_second - STATUS_MEMORY_S)
        for old in [s for s in self._status if s < limit]:
            del self._status[old]
        # Atrial values of beats already analysed: only the newest one can still count
        # (in sinus rhythm `_af_decide`, which takes them, is not called for most beats).
        atrial = self._atrial
        pending = self._beats[0].index if self._beats else math.inf
        while atrial and atrial[0][0] < pending:
            self._p = atrial.popleft()[1]
        # Gap values of beats already analysed are no longer needed (few: long RR only).
        if self._gaps:
            for index in [i for i in self._gaps if i < pending]:
                del self._gaps[index]

    def flush(self) -> list[Episode]:
        """End of the stream: settle every second and beat, close every episode."""
        out: list[Episode] = []
        self._advance_seconds(out, final=True)
        self._advance_beats(out, final=True)
        self._interrupt(out, self._last_time(), keep_af=False)
        self._close_bad(out, self._next_second)
        self._close_vf(out, self._next_second)
        return out

    # -- seconds: unreadable and VF ---------------------------------------------------

    def _known_until(self, final: bool) -> int:
        """Seconds [0, n) whose inputs have all arrived (missing ones inside are gaps)."""
        last_q = max(self._quality, default=-1)
        last = last_q if not self.expects_vf else min(last_q, max(self._vf, default=-1))
        if final:
            last = max(last_q, max(self._vf, default=-1))
        return last + 1

    def _advance_seconds(self, out: list[Episode], final: bool) -> None:
        known = self._known_until(final)
        lookahead = 0 if final or not self.expects_vf else CONFIRM_SECONDS - 1
        quality, vf, status = self._quality, self._vf, self._status
        expects_vf = self.expects_vf
        while self._next_second < known - lookahead:
            k = self._next_second
            q = quality.get(k)
            v = vf.get(k)
            if (
                q is not None
                and q.readable
                and self._vf_run is None
                and self._bad is None
                and not (expects_vf and v is not None and v.vf_like)
            ):
                # The common case: a readable second, not VF-like, nothing in progress:
                # `_settle` says "ok" and `_second_events` has nothing to close.
                status[k] = "ok"
                self._next_second = k + 1
            else:
                status[k] = self._settle(k)
                self._next_second = k + 1
                self._second_events(k, out)
            quality.pop(k - CONFIRM_SECONDS, None)
            vf.pop(k - CONFIRM_SECONDS, None)

    def _vf_like(self, k: int) -> bool:
        v = self._vf.get(k)
        q = self._quality.get(k)
        if v is None or not v.vf_like:
            return False
        # VF is judged on the waveform: its large fast (or slow, coarse) oscillation reads
        # as noise or wander to the quality stage, so those do not veto it; no signal,
        # a flat line or a clipped trace do. QRS complexes that still stand out of the
        # background (a low envelope median / peak ratio) mean a beating heart under
        # noise, not VF.
        if q is not None and q.peak_ratio < self.config.vf_min_peak_ratio:
            return False
        return q is None or q.readable or q.reason in VF_OVERRIDES

    def _settle(self, k: int) -> str:
        q = self._quality.get(k)
        if q is None:
            return NO_DATA
        if self.expects_vf and self._vf_like(k):
            need = CONFIRM_SECONDS
            # Part of a run of `need` VF-like seconds (looking back and ahead).
            for first in range(k - need + 1, k + 1):
                if all(self._vf_like(j) for j in range(first, first + need)):
                    self._vf_last = k
                    return "vf"
        if (
            self._vf_run is not None
            and k - self._vf_last <= HOLD_SECONDS
            and (q.readable or q.reason in VF_OVERRIDES)
        ):
            return "vf"  # VF goes on through a few less typical seconds
        return "ok" if q.readable else (q.reason or "noise")

    def _second_events(self, k: int, out: list[Episode]) -> None:
        status = self._status[k]
        if status == "vf":
            self._close_bad(out, k)
            if self._vf_run is None:
                self._vf_run = (k, None)
            start, ident = self._vf_run
            if ident is None:
                ident = self._new_id("s")
                self._vf_run = (start, ident)
                out.append(
                    Episode(
                        ident,
                        "vf",
                        float(start),
                        float(k + 1),
                        self._vf_confidence(start, k),
                        Evidence(measure=self._vf_measure(start, k)),
                        final=False,
                    )
                )
        else:
            self._close_vf(out, k)
        if status not in ("ok", "vf"):
            if self._bad is not None and _family(status) != _family(
                self._bad[1].most_common(1)[0][0]
            ):
                self._close_bad(out, k)  # leads off after noise (or back): a new episode
            if self._bad is None:
                self._bad = (k, Counter())
            self._bad[1][status] += 1
        elif status == "ok":
            self._close_bad(out, k)

    def _vf_measure(self, start: int, end: int) -> float:
        vals = [self._vf[j].tcsc for j in range(start, end + 1) if j in self._vf]
        return round(float(np.mean(vals)), 3) if vals else 0.0

    def _vf_confidence(self, start: int, end: int) -> float:
        vals = [self._vf[j].concentration for j in range(start, end + 1) if j in self._vf]
        return round(float(np.clip(np.mean(vals), 0.0, 1.0)), 3) if vals else 0.5

    def _close_vf(self, out: list[Episode], k: int) -> None:
        if self._vf_run is None:
            return
        start, ident = self._vf_run
        self._vf_run = None
        if ident is not None:
            out.append(Episode(ident, "vf", float(start), float(k), 1.0, final=True))

    def _close_bad(self, out: list[Episode], k: int) -> None:
        if self._bad is None:
            return
        start, reasons = self._bad
        self._bad = None
        reason = reasons.most_common(1)[0][0]
        out.append(
            Episode(
                self._new_id("s"),
                "unreadable",
                float(start),
                float(k),
                1.0,
                final=True,
                reason=reason,
            )
        )

    # -- beats ------------------------------------------------------------------------

    def _reset_beats(self) -> None:
        cfg = self.config
        self._prev: ClassifiedBeat | None = None
        self._prev_second = 0
        self._prev_edge = False
        self._recent: deque[ClassifiedBeat] = deque(maxlen=cfg.af_window + 1)
        self._recent_conf = 0.0  # running sum of the confidences in _recent
        self._rr: deque[tuple[float, bool]] = deque(maxlen=cfg.af_window)
        self._rr_normal = 0  # how many of _rr are N/S-N/S intervals
        self._pairs: dict[int, deque[tuple[int, float]]] = {
            lag: deque(maxlen=cfg.af_window) for lag in cfg.af_lags[1:]
        }
        """Lag-k differences (k > 1) for the pattern test, sorted only when it runs."""
        self._lag1 = _Window(cfg.af_window)
        self._marks: deque[tuple[int, float, float, float]] = deque(maxlen=cfg.af_window)
        """Lag-1 pairs as (ordinal, start of the first interval, end of the second,
        |difference|): where the irregular intervals are, for the AF episode edges."""
        self._clean_rr = _Window(cfg.af_window)
        self._rate_rr: deque[float] = deque(maxlen=cfg.rate_beats)
        self._open: dict[str, _Open] = {}
        self._brady_leaving: float | None = None  # when the rate rose above brady_bpm
        self._vrun = _Run()
        self._srun = _Run()
        self._patterns = {"bigeminy": _Pattern(2), "trigeminy": _Pattern(3)}
        self._pattern_live = False  # some pattern has a chain going (else N beats skip it)
        self._ordinal = 0
        self._q_since_v = 0

    def _advance_beats(self, out: list[Episode], final: bool) -> None:
        beats, floor = self._beats, math.floor
        cfg = self.config
        until = math.inf if final else self._next_second - cfg.noise_guard_s
        if cfg.noise_guard_s != 0:
            while beats:
                second = floor(beats[0].time_s)
                if second >= until:
                    return
                self._on_beat(beats.popleft(), second, out)
            return
        status = self._status
        pause_s = cfg.pause_s
        long_rr = cfg.af_long_rr_factor
        stale_span = cfg.af_stale_factor * cfg.af_window
        min_pairs = cfg.af_min_pairs
        af_on, af_off = cfg.af_on, cfg.af_off
        quiet = min(af_off, cfg.af_on_no_p)  # (below it no AF decision can change)
        brady_bpm, tachy_bpm = cfg.brady_bpm, cfg.tachy_bpm
        min_confidence = cfg.ectopy_min_confidence
        rate_beats = cfg.rate_beats
        recent_max = cfg.af_window + 1
        bisect_left, insort = bisect.bisect_left, bisect.insort
        # (the beat machine's containers; `_on_beat` may replace them on a reset)
        rate_rr, clean, history, marks, lag1, recent, opened = self._containers()
        c_items, c_ordered, l_items, l_ordered = (
            clean.items,
            clean.ordered,
            lag1.items,
            lag1.ordered,
        )
        pair_list = list(self._pairs.items())
        while beats:
            beat = beats[0]
            t = beat.time_s
            second = floor(t)
            if second >= until:
                return
            beats.popleft()
            prev = self._prev
            if beat.noisy or status.get(second) != "ok":
                continue  # (as `_on_beat`: not analysed)
            # The common case: a beat in the same or the next readable second as the
            # previous one, at most ``pause_s`` after it: no pause, gap or reset can
            # apply, so this is `_on_beat` + `_on_interval` + `_update_af` inlined
            # for it (the same arithmetic in the same order), and the run and pattern
            # rules only when the beat can start or end one. Why: it is most beats, and
            # the general path's calls and checks were most of the analyzer's CPU time.
            if (
                prev is None
                or beat.rr_before_s is None
                or second - self._prev_second > 1
                or t - prev.time_s > pause_s
            ):
                self._on_beat(beat, second, out)
                rate_rr, clean, history, marks, lag1, recent, opened = self._containers()
                c_items, c_ordered = clean.items, clean.ordered
                l_items, l_ordered = lag1.items, lag1.ordered
                pair_list = list(self._pairs.items())
                continue
            rr = t - prev.time_s
            # -- _on_interval (no pause)
            a, label = prev.label, beat.label
            if a == "N" and label == "N":
                rate_rr.append(rr)
                normal = True
            else:
                normal = a in AF_BEATS and label in AF_BEATS
            if normal and c_items and long_rr > 0:
                n = len(c_ordered)
                mid = n // 2
                med = c_ordered[mid] if n % 2 else 0.5 * (c_ordered[mid - 1] + c_ordered[mid])
                normal = rr <= long_rr * med
            ordinal = self._ordinal
            if normal:
                if history:
                    before, was_normal = history[-1]
                    if was_normal:
                        diff = abs(rr - before)
                        if len(l_items) == lag1.maxlen:
                            del l_ordered[bisect_left(l_ordered, l_items.popleft()[1])]
                        l_items.append((ordinal, diff))
                        insort(l_ordered, diff)
                        marks.append((ordinal, prev.time_s - before, t, diff))
                for lag, pairs in pair_list:
                    if len(history) >= lag and history[-lag][1]:
                        pairs.append((ordinal, abs(rr - history[-lag][0])))
                if len(c_items) == clean.maxlen:
                    del c_ordered[bisect_left(c_ordered, c_items.popleft()[1])]
                c_items.append((ordinal, rr))
                insort(c_ordered, rr)
                self._rr_normal += 1
            if len(history) == history.maxlen and history[0][1]:
                self._rr_normal -= 1
            history.append((rr, normal))
            # -- the rest of _on_beat
            if label in ECTOPIC and beat.confidence < min_confidence:
                self._on_label(replace(beat, label="Q"), out)
            elif label != "N" or self._vrun.beats or self._srun.beats or self._pattern_live:
                self._on_label(beat, out)
            if len(recent) == recent_max:
                self._recent_conf -= recent[0].confidence
            recent.append(beat)
            self._recent_conf += beat.confidence
            self._prev = beat
            self._prev_second = second
            self._prev_edge = False
            ordinal += 1
            self._ordinal = ordinal
            # -- _update_af, measuring part
            fresh_from = ordinal - stale_span
            if c_items and c_items[0][0] >= fresh_from:
                n = len(c_ordered)
                mid = n // 2
                typical = c_ordered[mid] if n % 2 else 0.5 * (c_ordered[mid - 1] + c_ordered[mid])
            else:
                fresh = [v for o, v in c_items if o >= fresh_from]
                typical = _median(fresh) if fresh else 0.0
            while marks and marks[0][0] < fresh_from:
                marks.popleft()
            if l_items and l_items[0][0] < fresh_from:
                lag1.expire(fresh_from)
            n = len(l_ordered)
            irregularity: float | None = None
            if n >= min_pairs and typical > 0:
                mid = n // 2
                irregularity = (
                    l_ordered[mid] if n % 2 else 0.5 * (l_ordered[mid - 1] + l_ordered[mid])
                ) / typical
                if irregularity >= quiet:
                    irregularity = self._pattern_test(irregularity, typical, fresh_from)
            if irregularity is not None and irregularity < quiet and not self._af_state:
                # (not in AF and not irregular enough to start it: nothing to decide)
                if marks:
                    self._last_mark_s = marks[-1][2]
                self._regular = irregularity <= af_on
            else:
                self._af_decide(beat, irregularity, typical, out)
            if len(rate_rr) == rate_beats:
                bpm = 60.0 * rate_beats / sum(rate_rr)
                if not (brady_bpm <= bpm <= tachy_bpm) or "brady" in opened or "tachy" in opened:
                    self._update_rate(beat, bpm, out)

    def _containers(
        self,
    ) -> tuple[
        deque[float],
        _Window,
        deque[tuple[float, bool]],
        deque[tuple[int, float, float, float]],
        _Window,
        deque[ClassifiedBeat],
        dict[str, _Open],
    ]:
        return (
            self._rate_rr,
            self._clean_rr,
            self._rr,
            self._marks,
            self._lag1,
            self._recent,
            self._open,
        )

    def _last_time(self) -> float:
        return self._prev.time_s if self._prev is not None else 0.0

    def _analysable(self, second: int) -> bool:
        return self._status.get(second, NO_DATA) == "ok"

    def _near_unreadable(self, second: int) -> bool:
        """Whether an unreadable second lies within ``noise_guard_s`` of this one.

        Artefact rarely starts or stops exactly where the quality index says so: the
        readable edges of a noisy stretch give most false ectopic labels and missed
        beats. Seconds before the stream, or not settled at its end, do not count."""
        guard = self.config.noise_guard_s
        for k in range(second - guard, second + guard + 1):
            if 0 <= k < self._next_second and self._status.get(k, NO_DATA) not in ("ok", "vf"):
                return True
        return False

    def _on_beat(self, beat: ClassifiedBeat, second: int, out: list[Episode]) -> None:
        status = self._status
        if beat.noisy or status.get(second, NO_DATA) != "ok":
            return
        cfg = self.config
        edge = cfg.noise_guard_s > 0 and self._near_unreadable(second)
        prev = self._prev
        if prev is not None:
            first = self._prev_second
            # (the seconds of both beats are analysable: each was checked on arrival)
            if beat.rr_before_s is None or (
                first < second - 1
                and not all(status.get(s, NO_DATA) == "ok" for s in range(first + 1, second))
            ):
                self._interrupt(out, prev.time_s, keep_af=beat.time_s - prev.time_s < cfg.bridge_s)
            else:
                self._on_interval(
                    prev, beat, beat.time_s - prev.time_s, edge or self._prev_edge, out
                )
        # Next to an unreadable stretch the beat's class is not trusted for the ectopy
        # rules (runs, bigeminy/trigeminy): it counts as unknown there, which ends any
        # run or pattern. RR-based rules (AF, rate) still use it.
        if edge or (beat.label in ECTOPIC and beat.confidence < cfg.ectopy_min_confidence):
            self._on_label(replace(beat, label="Q"), out)
        elif beat.label != "N" or self._vrun.beats or self._srun.beats or self._pattern_live:
            self._on_label(beat, out)
        recent = self._recent
        if len(recent) == recent.maxlen:
            self._recent_conf -= recent[0].confidence
        recent.append(beat)
        self._recent_conf += beat.confidence
        self._prev = beat
        self._prev_second = second
        self._prev_edge = edge
        self._ordinal += 1
        self._update_af(beat, out)
        rate_rr = self._rate_rr
        if len(rate_rr) == rate_rr.maxlen:
            bpm = 60.0 * len(rate_rr) / sum(rate_rr)
            opened = self._open
            if (
                not (cfg.brady_bpm <= bpm <= cfg.tachy_bpm)
                or "brady" in opened
                or "tachy" in opened
            ):
                self._update_rate(beat, bpm, out)

    def _interrupt(self, out: list[Episode], at_s: float, keep_af: bool) -> None:
        """Close everything in progress at `at_s` (the last analysed beat)."""
        af_open = self._open.get("af")
        unconfirmed_af = af_open is not None and not af_open.confirmed
        self._end_vrun(out)
        self._end_srun(out)
        for kind in list(self._open):
            self._close(kind, at_s, out)
        for name in self._patterns:
            self._end_pattern(name, at_s, out)
        af_state, af_since, af_found = self._af_state, self._af_since, self._af_found
        if unconfirmed_af and keep_af and not self.config.af_gap_counts:
            # The unreadable time from here to the next analysed beat is not AF seen:
            # it does not count towards ``af_min_s`` (see `_on_af_beat`).
            self._af_gap_from = at_s
        ordinal = self._ordinal
        kept = (self._rr, self._rr_normal, self._pairs, self._lag1, self._marks, self._clean_rr)
        # (the usual RR for the V-run rate check outlives a short unreadable stretch)
        usual = usual_rr(self._rate_rr) or self._usual_kept
        self._reset_beats()
        self._usual_kept = usual if keep_af else None
        if keep_af:
            self._rr, self._rr_normal, self._pairs, self._lag1, self._marks, self._clean_rr = kept
            self._ordinal = ordinal
            self._af_state, self._af_since, self._af_found = af_state, af_since, af_found
        else:
            self._af_state = False

    def _on_interval(
        self, prev: ClassifiedBeat, beat: ClassifiedBeat, rr: float, edge: bool, out: list[Episode]
    ) -> None:
        """The interval `rr` from `prev` to `beat`: pauses, the rate and the AF series."""
        cfg = self.config
        if (
            rr > cfg.pause_s
            and not edge
            # (a QRS-like deflection in the gap: a likely missed beat, not a pause)
            and self._gaps.get(beat.index, -math.inf) < cfg.pause_missed_beat_ratio
        ):
            # (a long interval next to an unreadable stretch is most often a missed beat)
            out.append(
                Episode(
                    self._new_id(),
                    "pause",
                    prev.time_s,
                    beat.time_s,
                    round(min(prev.confidence, beat.confidence), 3),
                    Evidence((prev.index, beat.index), (round(rr, 3),), round(rr, 3)),
                )
            )
        a, b = prev.label, beat.label
        if a == "N" and b == "N":
            self._rate_rr.append(rr)
            normal = True
        else:
            # For AF, intervals between supraventricular beats (N or S) count: AF itself
            # makes conducted beats look premature, so a classifier calls many of them S,
            # and an isolated S beat moves only two of the window's successive
            # differences, which the median ignores. V, F and Q beats are left out.
            normal = a in AF_BEATS and b in AF_BEATS
        clean = self._clean_rr
        if normal and clean.items and cfg.af_long_rr_factor > 0:
            # An N-N interval far longer than the recent ones is more likely a missed
            # beat than AF: it is not used for the irregularity (it still counts for
            # the rate, as sinus pauses in bradycardia should).
            normal = rr <= cfg.af_long_rr_factor * clean.median()
        history = self._rr
        if normal:
            ordinal = self._ordinal
            if history and history[-1][1]:
                before = history[-1][0]
                diff = abs(rr - before)
                self._lag1.push(ordinal, diff)
                self._marks.append((ordinal, prev.time_s - before, beat.time_s, diff))
            for lag, pairs in self._pairs.items():
                if len(history) >= lag and history[-lag][1]:
                    pairs.append((ordinal, abs(rr - history[-lag][0])))
            clean.push(ordinal, rr)
            self._rr_normal += 1
        if len(history) == history.maxlen and history[0][1]:
            self._rr_normal -= 1
        history.append((rr, normal))

    # -- ventricular / supraventricular runs and patterns -----------------------------

    def _on_label(self, beat: ClassifiedBeat, out: list[Episode]) -> None:
        """Runs and patterns. (A normal beat with none in progress is skipped by the
        caller: it could neither end nor start one.)"""
        if beat.label == "V":
            self._end_srun(out)
            run = self._vrun
            if not run.beats:
                prev = self._prev
                run.onset_rr = None if prev is None else beat.time_s - prev.time_s
                run.usual_rr = usual_rr(self._rate_rr) or self._usual_kept
            run.beats.append(beat)
            if (
                run.duration_s >= self.config.sustained_vt_s
                and "vt" not in self._open
                and _rate_bpm(run) >= self.config.vrun_min_bpm
                and run.fast(self.config.vrun_fast_ratio)
            ):
                self._open["vt"] = _Open(self._new_id(), "vt", run.beats[0].time_s, Evidence(), 1.0)
                self._confirm(
                    "vt", beat.time_s, self._run_evidence(run), out, self._run_confidence(run)
                )
        else:
            self._end_vrun(out)
            if beat.label == "S":
                self._srun.beats.append(beat)
            else:
                self._end_srun(out)
        self._on_pattern(beat, out)

    def _run_evidence(self, run: _Run) -> Evidence:
        head = run.beats[:32]
        rr = [b.time_s - a.time_s for a, b in itertools.pairwise(head)]
        rate = 60.0 * (len(run.beats) - 1) / run.duration_s if run.duration_s > 0 else None
        return Evidence(
            tuple(b.index for b in head),
            tuple(round(r, 3) for r in rr),
            None if rate is None else round(rate, 1),
        )

    @staticmethod
    def _run_confidence(run: _Run) -> float:
        return round(float(np.mean([b.confidence for b in run.beats])), 3)

    def _end_vrun(self, out: list[Episode]) -> None:
        run, self._vrun = self._vrun, _Run()
        n = len(run.beats)
        if n < 2:
            return
        if "vt" in self._open:
            self._close("vt", run.beats[-1].time_s, out)
            return
        if not run.fast(self.config.vrun_fast_ratio):
            # Beats called V at the patient's usual rate: not a ventricular run.
            return
        kind = {2: "couplet", 3: "triplet"}.get(n, "nsvt")
        if n >= 3 and _rate_bpm(run) < self.config.vrun_min_bpm:
            # Three or more V beats slower than this are not ventricular tachycardia
            # (idioventricular rhythm); most such "runs" are wide normal beats the
            # classifier called V.
            return
        out.append(
            Episode(
                self._new_id(),
                kind,
                run.beats[0].time_s,
                run.beats[-1].time_s,
                self._run_confidence(run),
                self._run_evidence(run),
            )
        )

    def _end_srun(self, out: list[Episode]) -> None:
        run, self._srun = self._srun, _Run()
        if len(run.beats) < self.config.svt_min_beats or run.duration_s <= 0:
            return
        rate = 60.0 * (len(run.beats) - 1) / run.duration_s
        if rate > self.config.tachy_bpm:
            out.append(
                Episode(
                    self._new_id(),
                    "svt",
                    run.beats[0].time_s,
                    run.beats[-1].time_s,
                    self._run_confidence(run),
                    self._run_evidence(run),
                )
            )

    def _on_pattern(self, beat: ClassifiedBeat, out: list[Episode]) -> None:
        o = self._ordinal
        if beat.label not in SUPRAVENTRICULAR and beat.label != "V":
            self._q_since_v += 1
        for name, p in self._patterns.items():
            if beat.label == "V":
                if o - p.last_v == p.period and self._q_since_v == 0 and p.chain > 0:
                    p.chain += 1
                else:
                    self._end_pattern(name, self._prev.time_s if self._prev else beat.time_s, out)
                    p.chain = 1
                    before = self._recent[-1] if self._recent else beat
                    p.start_s, p.start_index = before.time_s, before.index
                p.last_v = o
                if p.chain >= self.config.pattern_cycles and name not in self._open:
                    self._open[name] = _Open(self._new_id(), name, p.start_s, Evidence(), 1.0)
                    self._confirm(
                        name,
                        beat.time_s,
                        Evidence((p.start_index, beat.index), measure=float(p.chain)),
                        out,
                        beat.confidence,
                    )
            elif o - p.last_v >= p.period:
                # The beat where the next V was due is not a V: the pattern is broken.
                self._end_pattern(name, self._prev.time_s if self._prev else beat.time_s, out)
                p.chain = 0
        if beat.label == "V":
            self._q_since_v = 0
        self._pattern_live = any(p.chain > 0 for p in self._patterns.values())

    def _end_pattern(self, name: str, at_s: float, out: list[Episode]) -> None:
        self._patterns[name].chain = 0
        if name in self._open:
            self._close(name, at_s, out)

    # -- AF and rate ------------------------------------------------------------------

    def _update_af(self, beat: ClassifiedBeat, out: list[Episode]) -> None:
        cfg = self.config
        fresh_from = self._ordinal - cfg.af_stale_factor * cfg.af_window
        clean = self._clean_rr
        if clean.items and clean.items[0][0] >= fresh_from:
            ordered = clean.ordered
            n = len(ordered)
            mid = n // 2
            typical = ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
        else:
            # (stale intervals still count for the missed-beat test, not for AF)
            fresh = [v for o, v in clean.items if o >= fresh_from]
            typical = _median(fresh) if fresh else 0.0
        marks = self._marks
        while marks and marks[0][0] < fresh_from:
            marks.popleft()
        irregularity: float | None = None
        lag1 = self._lag1
        if lag1.items and lag1.items[0][0] < fresh_from:
            lag1.expire(fresh_from)
        ordered = lag1.ordered
        n = len(ordered)
        if n >= cfg.af_min_pairs and typical > 0:
            mid = n // 2
            irregularity = (
                ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
            ) / typical
            if irregularity >= min(cfg.af_off, cfg.af_on_no_p):
                # (below that the pattern test could only lower it: no decision changes)
                irregularity = self._pattern_test(irregularity, typical, fresh_from)
        self._af_decide(beat, irregularity, typical, out)

    def _af_decide(
        self, beat: ClassifiedBeat, irregularity: float | None, typical: float, out: list[Episode]
    ) -> None:
        """AF onset and end from this beat's irregularity (see `_update_af`)."""
        cfg = self.config
        marks = self._marks
        atrial = self._atrial
        while atrial and atrial[0][0] <= beat.index:
            self._p = atrial.popleft()[1]
        p = self._p
        # P waves: clear ones mean sinus rhythm (irregular RR is ectopy or sinus
        # arrhythmia), absent ones make AF likely at a lower RR irregularity.
        clear = p is not None and p >= cfg.af_p_clear
        absent = p is not None and p < cfg.af_p_absent
        if irregularity is None:
            if self._af_state:
                # N-N intervals have been too few for a while: ectopy explains the RR
                # series, so AF is no longer claimed; it ended with the last pair of
                # N-N intervals seen.
                self._end_af(self._last_mark_s, out)
        elif not self._af_state:
            ectopic_share = 1.0 - self._rr_normal / len(self._rr) if self._rr else 1.0
            on = cfg.af_on_no_p if absent else cfg.af_on
            if irregularity > on and not clear and ectopic_share <= cfg.af_max_ectopic_share:
                self._af_state = True
                self._af_since = max(self._af_ended, self._af_edge(on * typical, onset=True))
                self._af_found = self._back().time_s
        else:
            off = cfg.af_off_no_p if absent else cfg.af_off
            if irregularity < off:
                self._end_af(self._af_edge(off * typical, onset=False), out)
            elif clear:
                # (still irregular: the coherence rose about half its window back)
                self._end_af(self._back().time_s, out)
        if marks:
            self._last_mark_s = marks[-1][2]
        self._regular = (
            not self._af_state and irregularity is not None and irregularity <= cfg.af_on
        )
        if self._af_state:
            self._on_af_beat(beat, irregularity, out)

    def _pattern_test(self, irregularity: float, typical: float, fresh_from: int) -> float:
        cfg = self.config
        for pairs in self._pairs.values():
            while pairs and pairs[0][0] < fresh_from:
                pairs.popleft()
            if len(pairs) < cfg.af_min_pairs:
                continue
            ordered = sorted([d for _, d in pairs])
            n = len(ordered)
            upper = ordered[min(n - 1, (3 * n) // 4)]  # (_upper_quartile of sorted values)
            if upper / typical < cfg.af_pattern_ratio * irregularity:
                # Intervals k beats apart nearly all agree where successive ones do not:
                # a repeating pattern (bigeminy, trigeminy, 2:1/3:2 conduction), not AF.
                # (The upper quartile, not the median, so that a chance dip in AF's
                # random series is not taken for a pattern.)
                mid = n // 2
                median = ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
                irregularity = median / typical
        if cfg.af_displaced_ratio > 0:
            # Irregular pairs one displaced beat explains are ectopy, not AF (see
            # `monitor.classify.af_ectopy`); `_marks` holds the same pairs as `_lag1`.
            unexplained = unexplained_irregularity(
                ((end - start, diff) for _, start, end, diff in self._marks),
                typical,
                min(cfg.af_off, cfg.af_on_no_p),
                cfg.af_displaced_ratio,
                cfg.af_min_pairs,
            )
            if unexplained is not None:
                irregularity = min(irregularity, unexplained)
        return irregularity

    def _af_edge(self, threshold: float, onset: bool) -> float:
        """Where AF began (onset) or ended, from the irregular pairs of the window.

        A window's median crosses the threshold about half a window after the rhythm
        changed, so the edge is placed at the irregular interval pair that bounds the
        irregular part: at onset, the oldest irregular pair from which on at least half
        the pairs are irregular; at the end, the newest irregular pair up to which at
        least half are. Without such a pair, the middle of the window."""
        marks = list(self._marks) if onset else list(self._marks)[::-1]
        edge: float | None = None
        k = 0
        for n, (_, start_s, end_s, diff) in enumerate(reversed(marks), start=1):
            if diff > threshold:
                k += 1
                if 2 * k >= n:
                    edge = start_s if onset else end_s
        return self._back().time_s if edge is None else edge

    def _back(self) -> ClassifiedBeat:
        """The beat half an AF window back."""
        return self._recent[max(0, len(self._recent) - 1 - self.config.af_window // 2)]

    def _on_af_beat(
        self, beat: ClassifiedBeat, irregularity: float | None, out: list[Episode]
    ) -> None:
        cfg = self.config
        if "af" not in self._open:
            start = max(self._af_since, self._recent[0].time_s)
            self._open["af"] = _Open(self._new_id(), "af", start, Evidence(), 0.0)
            if self._af_gap_from is not None:  # (resumed after a gap, see `_interrupt`)
                self._af_found += start - self._af_gap_from
                self._af_gap_from = None
        episode = self._open["af"]
        if irregularity is not None:
            conf = min(1.0, irregularity / (2 * cfg.af_on)) * (
                self._recent_conf / len(self._recent)
            )
            episode.confidence = round(max(episode.confidence, conf), 3)
        if not episode.confirmed and beat.time_s - self._af_found >= cfg.af_min_s:
            self._confirm(
                "af",
                beat.time_s,
                Evidence(
                    tuple(b.index for b in self._recent),
                    tuple(round(r, 3) for r, _ in self._rr),
                    None if irregularity is None else round(irregularity, 4),
                ),
                out,
                episode.confidence,
            )

    def _end_af(self, at_s: float, out: list[Episode]) -> None:
        self._af_state = False
        self._af_gap_from = None
        if "af" in self._open:
            at_s = max(at_s, self._open["af"].start_s)
            self._close("af", at_s, out)
        self._af_ended = max(self._af_ended, at_s)

    def _update_rate(self, beat: ClassifiedBeat, bpm: float, out: list[Episode]) -> None:
        """Brady/tachy, called when the rate is beyond a limit or one of them is open."""
        cfg = self.config
        first = self._recent[max(0, len(self._recent) - 1 - cfg.rate_beats)]
        for kind, beyond, back_in in (
            # Sinus bradycardia is a slow *sinus* rhythm: regular N-N intervals (the AF
            # irregularity known and below its threshold), not AF with a slow response.
            (
                "brady",
                bpm < cfg.brady_bpm and self._regular,
                bpm > cfg.brady_bpm + 2.0 or self._af_state,
            ),
            ("tachy", bpm > cfg.tachy_bpm, bpm < cfg.tachy_bpm - 2.0),
        ):
            if kind not in self._open and beyond:
                self._open[kind] = _Open(self._new_id(), kind, first.time_s, Evidence(), 1.0)
            elif kind == "brady" and self._brady_leaving is not None and beyond:
                self._brady_leaving = None  # (slow again within brady_end_s: one episode)
            elif kind in self._open and back_in:
                if kind == "brady" and self._brady_debounce(beat.time_s, out):
                    continue
                self._close(kind, beat.time_s, out)
                continue
            episode = self._open.get(kind)
            if (
                episode is not None
                and not episode.confirmed
                and beat.time_s - episode.start_s >= cfg.rate_min_s
            ):
                self._confirm(
                    kind,
                    beat.time_s,
                    Evidence(
                        tuple(b.index for b in list(self._recent)[-cfg.rate_beats - 1 :]),
                        tuple(round(r, 3) for r in self._rate_rr),
                        round(bpm, 1),
                    ),
                    out,
                    1.0,
                )

    def _brady_debounce(self, now_s: float, out: list[Episode]) -> bool:
        """A confirmed sinus bradycardia ends only once the rate has been back above
        the limit for ``brady_end_s`` (then at the beat where it went back), as it
        began only after ``rate_min_s`` below: a pause or a few faster beats inside it
        do not split one episode into many. AF ends it at once (not sinus any more).
        True while the end is pending (the episode stays open)."""
        episode = self._open["brady"]
        if self._af_state or not episode.confirmed:
            return False
        if self._brady_leaving is None:
            self._brady_leaving = now_s
        if now_s - self._brady_leaving < self.config.brady_end_s:
            return True
        self._close("brady", self._brady_leaving, out)
        return True

    # -- episode bookkeeping ----------------------------------------------------------

    def _new_id(self, machine: str = "b") -> str:
        """Ids per machine ('b' beats, 's' seconds), so interleaving cannot change them."""
        self._counter[machine] = self._counter.get(machine, 0) + 1
        return f"{machine}{self._counter[machine]}"

    def _confirm(
        self, kind: str, now_s: float, evidence: Evidence, out: list[Episode], confidence: float
    ) -> None:
        episode = self._open[kind]
        episode.confirmed = True
        episode.evidence = evidence
        episode.confidence = confidence
        out.append(
            Episode(episode.id, kind, episode.start_s, now_s, confidence, evidence, final=False)
        )

    def _close(self, kind: str, end_s: float, out: list[Episode]) -> None:
        episode = self._open.pop(kind)
        if kind == "brady":
            # (an interruption while its end was pending: it ended where the rate rose)
            if self._brady_leaving is not None:
                end_s = min(end_s, self._brady_leaving)
            self._brady_leaving = None
        if episode.confirmed:
            out.append(
                Episode(
                    episode.id,
                    kind,
                    episode.start_s,
                    max(end_s, episode.start_s),
                    episode.confidence,
                    episode.evidence,
                    final=True,
                )
            )


CONTACT_REASONS = frozenset({NO_DATA, "no signal", "flat line (leads off?)", "saturation"})
"""Unreadable because of the electrode or the link (fix the strap), as opposed to
artefact on a working contact (noise, wander: keep still)."""


def _family(reason: str) -> str:
    return "contact" if reason in CONTACT_REASONS else "artefact"


def _rate_bpm(run: _Run) -> float:
    """Mean rate over a run of beats (0 when it has no duration)."""
    if len(run.beats) < 2 or run.duration_s <= 0:
        return 0.0
    return 60.0 * (len(run.beats) - 1) / run.duration_s


class _Window:
    """The last `maxlen` values pushed (with the beat ordinal they came at), also kept
    sorted, so that a median costs no sort per beat (the window moves by one value per
    beat: one bisect insert and one delete)."""

    __slots__ = ("items", "maxlen", "ordered")

    def __init__(self, maxlen: int) -> None:
        self.items: deque[tuple[int, float]] = deque()
        self.ordered: list[float] = []
        self.maxlen = maxlen

    def push(self, ordinal: int, value: float) -> None:
        items, ordered = self.items, self.ordered
        if len(items) == self.maxlen:
            del ordered[bisect.bisect_left(ordered, items.popleft()[1])]
        items.append((ordinal, value))
        bisect.insort(ordered, value)

    def expire(self, before: int) -> None:
        """Forget the values pushed at ordinals below `before`."""
        items, ordered = self.items, self.ordered
        while items and items[0][0] < before:
            del ordered[bisect.bisect_left(ordered, items.popleft()[1])]

    def median(self) -> float:
        ordered = self.ordered
        n = len(ordered)
        mid = n // 2
        return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def _median(values: Sequence[float]) -> float:
    """Median of a short list (faster than numpy for the 16-value windows used here)."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return float(ordered[mid]) if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def _upper_quartile(values: Sequence[float]) -> float:
    """75th percentile (nearest rank) of a short list."""
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, (3 * len(ordered)) // 4)])


def make_beats(
    peaks: np.ndarray,
    labels: Sequence[str],
    fs: float,
    confidences: Sequence[float] | None = None,
    noisy: Sequence[bool] | None = None,
) -> list[ClassifiedBeat]:
    """ClassifiedBeats from R-peak sample indices (working rate) and their labels."""
    times = np.asarray(peaks, dtype=np.float64) / fs
    out: list[ClassifiedBeat] = []
    for i, (peak, t) in enumerate(zip(peaks, times, strict=True)):
        out.append(
            ClassifiedBeat(
                index=int(peak),
                time_s=float(t),
                label=labels[i],
                confidence=1.0 if confidences is None else float(confidences[i]),
                rr_before_s=float(t - times[i - 1]) if i > 0 else None,
                rr_after_s=float(times[i + 1] - t) if i + 1 < len(times) else None,
                noisy=bool(noisy[i]) if noisy is not None else False,
            )
        )
    return out


def final_episodes(events: Iterable[Episode]) -> list[Episode]:
    """The finished episodes of an event stream, in start order."""
    return sorted((e for e in events if e.final), key=lambda e: (e.start_s, e.end_s, e.kind))


def run_rhythm(
    samples_uv: np.ndarray,
    fs: float,
    beats: Sequence[ClassifiedBeat],
    config: RhythmConfig | None = None,
    chunk_s: float = 10.0,
) -> list[Episode]:
    """Stream a whole recording (at the working rate) and its beats through the stages.

    The quality and VF stages see the samples chunk by chunk; the analyzer gets each
    chunk's verdicts and the beats up to the chunk's end, as a live pipeline would.
    """
    from monitor.classify.vf import VfDetector
    from monitor.signal.quality import SignalQuality

    quality = SignalQuality(fs)
    vf = VfDetector(fs)
    atrial = AtrialActivity(fs)
    analyzer = RhythmAnalyzer(config)
    gaps = GapActivity(fs, analyzer.config.pause_s)
    step = max(1, round(chunk_s * fs))
    ordered = sorted(beats, key=lambda b: b.time_s)
    events: list[Episode] = []
    b = 0
    x = np.asarray(samples_uv, dtype=np.float64)
    for start in range(0, x.size, step):
        chunk = x[start : start + step]
        end_s = (start + chunk.size) / fs
        first = b
        while b < len(ordered) and ordered[b].time_s < end_s:
            b += 1
        atrial.feed(chunk)
        gaps.feed(chunk)
        events += analyzer.process(
            ordered[first:b],
            quality.process(chunk),
            vf.process(chunk),
            atrial_pairs(atrial, ordered[first:b]),
            gaps.measure(ordered[first:b]),
        )
    events += analyzer.process(
        ordered[b:],
        quality.flush(),
        vf.flush(),
        atrial_pairs(atrial, ordered[b:]),
        gaps.measure(ordered[b:]),
    )
    events += analyzer.flush()
    return events


def atrial_pairs(
    atrial: AtrialActivity, beats: Sequence[ClassifiedBeat]
) -> list[tuple[int, float | None]]:
    """(beat index, P-wave coherence) for `RhythmAnalyzer.process`."""
    return list(zip([b.index for b in beats], atrial.measure(beats), strict=True))
