"""Is a long RR interval a real pause, or a beat the QRS detector missed?

The rhythm rules see only the detected beats, so one missed beat in a rhythm of about
1 s makes an interval of about 2 s, which the pause rule (RR above 2 s) would report
and alert. On the MIT-BIH records most false pauses were exactly that: the reference
has a beat in the gap (often at 0.3-0.6 times the amplitude of the patient's beats,
below the detector's threshold), or the gap is noise. The interval alone cannot tell:
a real sinus pause or sinoatrial exit block is often exactly twice the previous RR.

What can tell is the signal in the gap. A real pause is electrically quiet between
the T wave of the beat before and the P/QRS of the beat after (P and T waves are slow
and carry little energy in the QRS band); a missed beat, or artefact that looks like
one, is a steep deflection there. So for every interval longer than the pause limit
the **gap activity** is

    largest |QRS-band signal| inside the gap / median of the same at the last beats

with the QRS band a 5-20 Hz band-pass (where QRS energy is, Pan and Tompkins 1985),
the gap from `GUARD_AFTER_S` after the first beat (its QRS and ST-T tail) to
`GUARD_BEFORE_S` before the second (its QRS onset), and the last `RECENT_BEATS` beats
up to the first one as the patient's own QRS size. A pause whose gap activity reaches
`RhythmConfig.pause_missed_beat_ratio` is not reported: it cannot be confirmed (a
likely missed beat, or artefact). The ratio depends on amplitude only relative to the
same patient's beats, so the strap's gain and the lead do not matter.

Streaming: `feed` the samples as they come and `measure` the beats found so far (each
beat after its samples); only beats that end an interval longer than the pause limit
get a value, and it does not depend on chunking.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np
from scipy import signal

from monitor.classify.beat import ClassifiedBeat
from monitor.classify.sample_history import SampleHistory

BAND_HZ = (5.0, 20.0)
"""The QRS band (Pan and Tompkins, IEEE Trans Biomed Eng 32:230-236, 1985)."""
GUARD_AFTER_S = 0.30
"""Left out after the first beat: its QRS (up to 0.12 s, longer with a bundle branch
block) and the filter's ringing after it. A missed beat this close would be an
interval of 0.3 s, which is not how a 2 s gap arises."""
GUARD_BEFORE_S = 0.20
"""Left out before the second beat: its QRS onset and the causal filter's delay."""
BEAT_HALF_S = 0.10
"""A beat's QRS-band size is the peak within this of its R peak."""
RECENT_BEATS = 8
"""Beats whose median size is the patient's QRS size (as the rate uses 8 intervals)."""
WARMUP_S = 0.5
"""Samples filtered before the first beat used, so that the filter has settled."""
BUFFER_S = 30.0
"""QRS-band samples kept: a gap longer than this (less the beats before it) is not
measured, and such a pause is reported unchecked, as before this check existed."""


class GapActivity:
    """Gap activity (see the module docstring) at beats that end a long interval.

    Only raw samples are kept: the QRS band is computed when a long interval comes
    (a few per hour), over a window fixed by the beats (from `WARMUP_S` before the
    first recent beat to the end of the gap) with the filter started in its steady
    state for the window's first sample, so the value depends on the samples and
    beats only, never on how they were chunked, and sinus rhythm costs one array
    append per chunk and one comprehension per call.
    `restart` after a gap in the data: nothing is measured across missing samples.
    """

    def __init__(self, fs: float, pause_s: float, first_index: int = 0) -> None:
        self.fs = float(fs)
        self.pause_s = float(pause_s)
        self._sos = signal.butter(2, BAND_HZ, "bandpass", fs=self.fs, output="sos")
        self._zi = signal.sosfilt_zi(self._sos)
        self._history = SampleHistory(round(BUFFER_S * self.fs), first_index)
        self._half = round(BEAT_HALF_S * self.fs)
        self._after = round(GUARD_AFTER_S * self.fs)
        self._before = round(GUARD_BEFORE_S * self.fs)
        self._warmup = round(WARMUP_S * self.fs)
        self.restart(first_index)

    def restart(self, first_index: int) -> None:
        """A new run of samples begins at stream sample `first_index`."""
        self._history.restart(first_index)
        self._recent: deque[int] = deque(maxlen=RECENT_BEATS)

    def feed(self, samples: np.ndarray) -> None:
        """Append samples (the next ones of the stream)."""
        self._history.feed(samples)

    def measure(self, beats: Iterable[ClassifiedBeat]) -> list[tuple[int, float]]:
        """(beat index, gap activity) for the beats, in order, that end an interval
        longer than the pause limit and whose gap and last beats are in the buffer."""
        beats = list(beats)
        limit = self.pause_s
        recent = self._recent
        if not any(b.rr_before_s is not None and b.rr_before_s > limit for b in beats):
            recent.extend([b.index for b in beats[-RECENT_BEATS:]])
            return []
        out: list[tuple[int, float]] = []
        for beat in beats:
            rr = beat.rr_before_s
            if rr is not None and rr > limit and recent:
                value = self._activity(recent, beat.index)
                if value is not None:
                    out.append((beat.index, value))
            recent.append(beat.index)
        return out

    def _activity(self, recent: deque[int], end: int) -> float | None:
        half = self._half
        buffer, start = self._history.values, self._history.start
        lo = recent[0] - half - self._warmup - start  # the window in the buffer
        hi = end - self._before - start
        gap_from = recent[-1] + self._after - start
        if lo < 0 or hi > buffer.size or hi <= gap_from:
            return None
        x = buffer[lo:hi]
        band = np.abs(signal.sosfilt(self._sos, x, zi=self._zi * x[0])[0])
        sizes = [band[i - start - lo - half : i - start - lo + half + 1].max() for i in recent]
        size = float(np.median(sizes))
        if size <= 0.0:
            return None
        return float(band[gap_from - lo :].max()) / size
