"""The synchronous streaming pipeline: EcgFrame -> filter -> QRS -> classify -> rhythm.

One `Pipeline` turns the frames of any source (strap, virtual strap, recording) into
what the daemon serves and stores: the filtered trace, beats with their class,
rhythm episodes and alerts, plus a running summary (heart rate, class counts,
signal quality). It is pure and synchronous (no asyncio, no I/O): the daemon calls
`process(frame)` for each frame and `flush()` at the end, so a replay and a live
strap run exactly the same code, and tests can run it without any event loop.
When samples are missing (a strap reconnect, a lost stretch) the daemon calls
`gap(seconds)`: what came before is decided, the rhythm layer is told, and the
filter, QRS detector and classifier start afresh after it, so nothing (no beat, no
RR interval, no rhythm) is derived across missing data.

The classifier and the rhythm layer (signal quality, VF, rhythm, alerts) are plugged
in through the small Protocols below. When one of them is absent the pipeline says so
instead of guessing: beats get the label `UNCLASSIFIED` ("?", confidence 0), the
rhythm is `None` ("not analysed") and the quality is `None` ("not assessed"). The
summary lists which stages are present, so every client can show it.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from monitor.classify.beat import BEAT_CLASSES, ClassifiedBeat
from monitor.frame import EcgFrame
from monitor.signal import WORKING_FS
from monitor.signal.filters import ecg_filter
from monitor.signal.qrs import QrsDetector
from monitor.signal.resample import StreamingResampler

UNCLASSIFIED = "?"
"""Label of a detected beat that no classifier has looked at (not an AAMI class)."""

HR_BEATS = 8
"""Heart rate is the median RR over this many recent intervals (robust to one ectopic)."""

MAX_RR_S = 3.0
"""An RR interval longer than this (a gap, a lost stretch) does not enter the heart rate."""

QUALITY_WINDOW_S = 30
"""The quality level is the readable share of this many recent seconds."""

LEADS_OFF_REASONS = frozenset({"no signal", "flat line (leads off?)"})
"""Quality-stage reasons that mean no ECG reaches the strap at all."""

RHYTHM_KINDS = frozenset({"af", "vf", "vt", "brady", "tachy", "bigeminy", "trigeminy", "svt"})
"""Episode kinds that describe the current rhythm (others are events: pause, couplet...)."""

NO_FINDING = "no abnormal rhythm found"

HR_STALE_S = 5.0
"""With no beat for this long (beyond the detector's delay) the heart rate is unknown,
never the last value repeated."""


# -- stage interfaces -------------------------------------------------------------------


@runtime_checkable
class ClassifierStage(Protocol):
    """A streaming beat classifier.

    `process` receives the next chunk of ECG-filtered samples at the working rate and
    the R-peak indices (counted from the classifier's first sample) the QRS detector
    decided during that chunk; it returns the beats whose class is now known. Whether
    a classifier waits for the next beat (RR-after) or decides each beat as soon as its
    window is complete is its own business: the pipeline passes on whatever comes out,
    in the same call.
    """

    def process(self, filtered: np.ndarray, r_peaks: np.ndarray) -> list[ClassifiedBeat]: ...

    def flush(self) -> list[ClassifiedBeat]: ...


class EpisodeLike(Protocol):
    """A rhythm episode event (onset with final False, then the final event, same id)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def final(self) -> bool: ...


class AlertLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def episode_id(self) -> str: ...
    @property
    def message(self) -> str: ...


class RhythmResult(Protocol):
    """What the rhythm layer decided in one call (monitor.classify.rhythm_stage.StageOutput)."""

    @property
    def episodes(self) -> Sequence[Any]: ...
    @property
    def alerts(self) -> Sequence[Any]: ...
    @property
    def quality(self) -> Sequence[Any]: ...


@runtime_checkable
class RhythmLayer(Protocol):
    """Signal quality + VF + rhythm + alerts over one stream, gaps included
    (monitor.classify.rhythm_stage.RhythmStage).

    Time is stream time: the samples fed plus the gaps declared with `gap`; beats are
    given in stream time. After `gap(seconds)` the next sample lands at
    `stream_time_s` (the layer may round the gap up to whole seconds).
    """

    @property
    def stream_time_s(self) -> float: ...

    def process(
        self,
        samples: np.ndarray,
        beats: Sequence[ClassifiedBeat] = (),
        filtered: np.ndarray | None = None,
    ) -> Any: ...

    def gap(self, seconds: float, beats: Sequence[ClassifiedBeat] = ()) -> Any: ...

    def flush(self, beats: Sequence[ClassifiedBeat] = ()) -> Any: ...


@dataclass(frozen=True)
class QualityReading:
    """Signal quality as clients see it.

    level: share of readable seconds over the last QUALITY_WINDOW_S judged seconds;
    noisy: the latest judged second was unreadable (reason says why);
    leads_off: that reason means no ECG at all (flat line, no signal).
    """

    level: float
    noisy: bool
    leads_off: bool = False
    detail: str = ""


# -- placeholders ------------------------------------------------------------------------


class Unclassified:
    """Stand-in when no classifier is available: every beat is labelled `UNCLASSIFIED`.

    It still fills in the RR intervals (delaying each beat by one beat to know the
    next RR), which are facts of the detection, not of a model.
    """

    def __init__(self, fs: float) -> None:
        self.fs = fs
        self._held: int | None = None
        self._before: float | None = None

    def process(self, filtered: np.ndarray, r_peaks: np.ndarray) -> list[ClassifiedBeat]:
        out: list[ClassifiedBeat] = []
        for peak in (int(p) for p in r_peaks):
            if self._held is not None:
                rr_after = (peak - self._held) / self.fs
                out.append(self._beat(self._held, self._before, rr_after))
                self._before = rr_after
            self._held = peak
        return out

    def flush(self) -> list[ClassifiedBeat]:
        if self._held is None:
            return []
        beat = self._beat(self._held, self._before, None)
        self._held = None
        return [beat]

    def _beat(self, index: int, before: float | None, after: float | None) -> ClassifiedBeat:
        return ClassifiedBeat(
            index=index,
            time_s=index / self.fs,
            label=UNCLASSIFIED,
            confidence=0.0,
            rr_before_s=before if before is not None and before <= MAX_RR_S else None,
            rr_after_s=after if after is not None and after <= MAX_RR_S else None,
        )


# -- the pipeline ------------------------------------------------------------------------


@dataclass
class PipelineOutput:
    """What one frame produced.

    start_index: working-rate index of trace_uv[0]; trace_uv: the ECG-filtered
    samples of this frame at the working rate (for the live trace). episodes and
    alerts are the rhythm and alert stages' own values (see EpisodeLike, AlertLike).
    """

    start_index: int
    trace_uv: np.ndarray
    beats: list[ClassifiedBeat]
    quality: list[Any] = field(default_factory=list)
    episodes: list[Any] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)


@dataclass
class Summary:
    """The running state clients see in every status message."""

    samples: int = 0
    stream_s: float = 0.0
    heart_rate_bpm: float | None = None
    rhythm: str | None = None
    quality: QualityReading | None = None
    counts: dict[str, int] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)


class Pipeline:
    """EcgFrame -> filtered trace, classified beats, quality, episodes, alerts, summary.

    Indices and times are stream time at the working rate: samples fed plus gaps
    declared with `gap()`. After a gap the filter, the QRS detector and the classifier
    start afresh (no beat, RR interval or rhythm is derived across missing samples).
    """

    def __init__(
        self,
        classifier: Callable[[], ClassifierStage] | None = None,
        rhythm: RhythmLayer | None = None,
        fs: float = WORKING_FS,
    ) -> None:
        """classifier: makes a fresh classifier (one per stretch between gaps); None
        labels beats UNCLASSIFIED. rhythm: the rhythm layer (quality, VF, rhythm,
        alerts); None leaves rhythm and quality "not analysed"."""
        self.fs = fs
        self._new_classifier: Callable[[], ClassifierStage] = (
            classifier if classifier is not None else (lambda: Unclassified(fs))
        )
        self._rhythm = rhythm
        self._resampler: StreamingResampler | None = None
        self._input_fs: float | None = None
        self._n = 0  # stream index of the next sample (gaps included)
        self._restart(0)
        self._rr: deque[float] = deque(maxlen=HR_BEATS)
        self._counts: Counter[str] = Counter()
        self._last_beat = -1
        self._readable: deque[bool] = deque(maxlen=QUALITY_WINDOW_S)
        self._open: dict[str, Any] = {}  # rhythm episodes begun and not yet final, by id
        self.summary = Summary(
            counts={c: 0 for c in (*BEAT_CLASSES, UNCLASSIFIED)},
            stages={
                "classifier": "none" if classifier is None else _stage_name(self._classifier),
                **_rhythm_stage_names(rhythm),
            },
        )

    def _restart(self, at: int) -> None:
        """Start the per-stretch stages afresh at stream index `at`."""
        self._run_start = at
        self._filter = ecg_filter(self.fs)
        self._qrs = QrsDetector(self.fs)
        self._classifier = self._new_classifier()
        if self._input_fs is not None and self._resampler is not None:
            self._resampler = StreamingResampler(self._input_fs, self.fs)

    @property
    def detector_delay_s(self) -> float:
        return self._qrs.delay_s

    @property
    def stream_time_s(self) -> float:
        """Stream time of the next sample (gaps included)."""
        return self._n / self.fs

    def process(self, frame: EcgFrame) -> PipelineOutput:
        """Feed one frame (any rate from 100 to 1000 Hz; resampled to the working rate)."""
        return self._run(self._to_working_rate(frame), end=None)

    def gap(self, seconds: float) -> PipelineOutput:
        """Samples are missing for `seconds` (a reconnect, a lost stretch): decide what
        came before, and start the next stretch after the gap."""
        out = self._run(self._resampler_tail(), end="gap", gap_s=max(0.0, seconds))
        if self._rhythm is not None:
            resume = round(self._rhythm.stream_time_s * self.fs)
        else:
            resume = self._n + round(max(0.0, seconds) * self.fs)
        self._n = max(self._n, resume)
        self._restart(self._n)
        return out

    def flush(self) -> PipelineOutput:
        """End of stream: decide every pending beat, close every episode."""
        return self._run(self._resampler_tail(), end="final")

    def _resampler_tail(self) -> np.ndarray:
        return self._resampler.flush() if self._resampler is not None else np.empty(0)

    def _to_working_rate(self, frame: EcgFrame) -> np.ndarray:
        x = np.asarray(frame.samples_uv, dtype=np.float64)
        if self._input_fs is None:
            self._input_fs = float(frame.fs)
            if abs(frame.fs - self.fs) > 1e-9:
                self._resampler = StreamingResampler(frame.fs, self.fs)
        elif abs(frame.fs - self._input_fs) > 1e-9:
            raise ValueError(f"sample rate changed mid-stream ({self._input_fs:g} -> {frame.fs:g})")
        return self._resampler.process(x) if self._resampler is not None else x

    def _run(self, x: np.ndarray, end: str | None, gap_s: float = 0.0) -> PipelineOutput:
        """end: None while streaming, "gap" before missing samples, "final" at the end."""
        start = self._n
        filtered = self._filter.process(x)
        peaks = self._qrs.process(x)
        if end is not None:
            peaks = np.concatenate([peaks, self._qrs.flush()]).astype(np.int64)
        self._n += x.size
        beats = list(self._classifier.process(filtered, peaks))
        if end is not None:
            beats += self._classifier.flush()
        if self._run_start:
            beats = [_shifted(b, self._run_start, self.fs) for b in beats]
        quality: list[Any] = []
        episodes: list[Any] = []
        alerts: list[Any] = []
        if self._rhythm is not None:
            pending = beats
            if x.size or end is None:
                # The ECG-filtered samples too: the quality stage's band (not filtered twice).
                quality, episodes, alerts = _parts(self._rhythm.process(x, pending, filtered))
                pending = []
            if end is not None:
                tail = (
                    self._rhythm.gap(gap_s, pending)
                    if end == "gap"
                    else self._rhythm.flush(pending)
                )
                more = _parts(tail)
                quality, episodes, alerts = quality + more[0], episodes + more[1], alerts + more[2]
        self._account(beats, quality, episodes)
        return PipelineOutput(start, filtered, beats, quality, episodes, alerts)

    def _account(
        self, beats: list[ClassifiedBeat], quality: list[Any], episodes: list[Any]
    ) -> None:
        summary = self.summary
        if beats:
            # Per beat only what C-level loops can do: a replay frame holds ~75 beats.
            self._counts.update([beat.label for beat in beats])
            self._rr.extend(
                [rr for beat in beats if (rr := beat.rr_before_s) is not None and rr <= MAX_RR_S]
            )
            self._last_beat = beats[-1].index
            summary.counts.update(self._counts)
            if len(self._rr) >= 2:
                # statistics.median: the same value as np.median (the middle value, or
                # the mean of the middle two), 30x cheaper on 8 numbers, once per frame.
                summary.heart_rate_bpm = 60.0 / statistics.median(self._rr)
        silent_s = (self._n - self._last_beat) / self.fs
        if self._last_beat >= 0 and silent_s > HR_STALE_S + self._qrs.delay_s:
            summary.heart_rate_bpm = None
            self._rr.clear()
        if quality:
            # Every second enters the window; the reading clients see is the latest.
            self._readable.extend([bool(getattr(second, "readable", True)) for second in quality])
            readable = self._readable[-1]
            last = quality[-1]
            reason = "" if readable else str(getattr(last, "reason", "") or "unreadable")
            summary.quality = QualityReading(
                level=sum(self._readable) / len(self._readable),
                noisy=not readable,
                leads_off=reason in LEADS_OFF_REASONS,
                detail=reason,
            )
        for episode in episodes:
            if getattr(episode, "final", True):
                self._open.pop(episode.id, None)
            else:
                self._open[episode.id] = episode
        if self._rhythm is not None:
            summary.rhythm = self._current_rhythm()
        summary.samples = self._n
        summary.stream_s = self._n / self.fs

    def _current_rhythm(self) -> str | None:
        """The rhythm to show now, or None when the latest stretch was not analysed.

        An open episode names the rhythm; with none open, the rhythm stage has found
        nothing abnormal in a stretch it analysed, which is said as such, never as a
        diagnosis ("sinus rhythm").
        """
        quality = self.summary.quality
        if quality is not None and quality.noisy:
            return None
        kinds = [e.kind for e in self._open.values() if e.kind in RHYTHM_KINDS]
        if kinds:
            return kinds[-1]
        if self._last_beat < 0:
            return None
        return NO_FINDING


def _stage_name(stage: object | None) -> str:
    return "none" if stage is None else type(stage).__name__


def _rhythm_stage_names(rhythm: object | None) -> dict[str, str]:
    """The stage names clients show: the rhythm layer and what it runs inside."""
    if rhythm is None:
        return {"rhythm": "none", "quality": "none", "vf": "none", "alerts": "none"}
    parts = {
        "rhythm": getattr(rhythm, "analyzer", None),
        "quality": getattr(rhythm, "_quality", None),
        "vf": getattr(rhythm, "_vf", None),
        "alerts": getattr(rhythm, "alerts", None),
    }
    return {k: _stage_name(v) if v is not None else type(rhythm).__name__ for k, v in parts.items()}


def _parts(result: Any) -> tuple[list[Any], list[Any], list[Any]]:
    return list(result.quality), list(result.episodes), list(result.alerts)


def _shifted(beat: ClassifiedBeat, offset: int, fs: float) -> ClassifiedBeat:
    """A beat of a stretch that began at stream index `offset`, in stream time.

    Built directly rather than with dataclasses.replace, which costs several times
    as much per beat (every beat after a gap comes through here)."""
    index = beat.index + offset
    return ClassifiedBeat(
        index,
        index / fs,
        beat.label,
        beat.confidence,
        beat.rr_before_s,
        beat.rr_after_s,
        beat.noisy,
    )
