"""The synchronous streaming pipeline: EcgFrame -> filter -> QRS -> classify -> rhythm.

One `Pipeline` turns the frames of any source (strap, virtual strap, recording) into
what the daemon serves and stores: the filtered trace, beats with their class,
rhythm episodes and alerts, plus a running summary (heart rate, class counts,
signal quality). It is pure and synchronous (no asyncio, no I/O): the daemon calls
`process(frame)` for each frame and `flush()` at the end, so a replay and a live
strap run exactly the same code, and tests can run it without any event loop.

The classifier, the rhythm analysis and the signal-quality stage are plugged in
through the small Protocols below. When one of them is absent the pipeline says so
instead of guessing: beats get the label `UNCLASSIFIED` ("?", confidence 0), the
rhythm is `None` ("not analysed") and the quality is `None` ("not assessed"). The
summary lists which stages are present, so every client can show it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
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
    the R-peak indices (absolute, from the start of the stream) the QRS detector
    decided during that chunk; it returns the beats whose class is now known (a
    classifier may wait for the samples after a beat before deciding it).
    """

    def process(self, filtered: np.ndarray, r_peaks: np.ndarray) -> list[ClassifiedBeat]: ...

    def flush(self) -> list[ClassifiedBeat]: ...


class SecondVerdict(Protocol):
    """One second's verdict from the quality or VF stage (index = second of the stream)."""

    @property
    def index(self) -> int: ...


@runtime_checkable
class SecondStage(Protocol):
    """A per-second judge of the raw samples (signal quality, VF detection)."""

    def process(self, chunk: np.ndarray) -> Sequence[Any]: ...

    def flush(self) -> Sequence[Any]: ...


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


@runtime_checkable
class RhythmStage(Protocol):
    """Rhythm analysis: beats + per-second quality/VF verdicts -> episode events."""

    def process(
        self, beats: Sequence[ClassifiedBeat], quality: Sequence[Any], vf: Sequence[Any]
    ) -> Sequence[Any]: ...

    def flush(self) -> Sequence[Any]: ...


class AlertLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def episode_id(self) -> str: ...
    @property
    def message(self) -> str: ...


@runtime_checkable
class AlertStage(Protocol):
    """Episode events -> the alerts worth interrupting a patient for (debounced)."""

    def process(self, events: Sequence[Any]) -> Sequence[Any]: ...


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
    """EcgFrame -> filtered trace, classified beats, quality, episodes, alerts, summary."""

    def __init__(
        self,
        classifier: ClassifierStage | None = None,
        rhythm: RhythmStage | None = None,
        quality: SecondStage | None = None,
        vf: SecondStage | None = None,
        alerts: AlertStage | None = None,
        fs: float = WORKING_FS,
    ) -> None:
        self.fs = fs
        self._filter = ecg_filter(fs)
        self._qrs = QrsDetector(fs)
        self._classifier: ClassifierStage = classifier or Unclassified(fs)
        self._rhythm = rhythm
        self._quality = quality
        self._vf = vf
        self._alerts = alerts
        self._resampler: StreamingResampler | None = None
        self._input_fs: float | None = None
        self._n = 0
        self._rr: deque[float] = deque(maxlen=HR_BEATS)
        self._counts: Counter[str] = Counter()
        self._last_beat = -1
        self._readable: deque[bool] = deque(maxlen=QUALITY_WINDOW_S)
        self._open: dict[str, Any] = {}  # rhythm episodes begun and not yet final, by id
        self.summary = Summary(
            counts={c: 0 for c in (*BEAT_CLASSES, UNCLASSIFIED)},
            stages={
                "classifier": _stage_name(classifier),
                "rhythm": _stage_name(rhythm),
                "quality": _stage_name(quality),
                "vf": _stage_name(vf),
                "alerts": _stage_name(alerts),
            },
        )

    @property
    def detector_delay_s(self) -> float:
        return self._qrs.delay_s

    def process(self, frame: EcgFrame) -> PipelineOutput:
        """Feed one frame (any rate from 100 to 1000 Hz; resampled to the working rate)."""
        return self._run(self._to_working_rate(frame), final=False)

    def flush(self) -> PipelineOutput:
        """End of stream: decide every pending beat, close every episode."""
        tail = self._resampler.flush() if self._resampler is not None else np.empty(0)
        return self._run(tail, final=True)

    def _to_working_rate(self, frame: EcgFrame) -> np.ndarray:
        x = np.asarray(frame.samples_uv, dtype=np.float64)
        if self._input_fs is None:
            self._input_fs = float(frame.fs)
            if abs(frame.fs - self.fs) > 1e-9:
                self._resampler = StreamingResampler(frame.fs, self.fs)
        elif abs(frame.fs - self._input_fs) > 1e-9:
            raise ValueError(f"sample rate changed mid-stream ({self._input_fs:g} -> {frame.fs:g})")
        return self._resampler.process(x) if self._resampler is not None else x

    def _run(self, x: np.ndarray, final: bool) -> PipelineOutput:
        start = self._n
        filtered = self._filter.process(x)
        peaks = self._qrs.process(x)
        if final:
            peaks = np.concatenate([peaks, self._qrs.flush()]).astype(np.int64)
        self._n += x.size
        beats = list(self._classifier.process(filtered, peaks))
        if final:
            beats += self._classifier.flush()
        quality = _judge(self._quality, x, final)
        vf = _judge(self._vf, x, final)
        episodes: list[Any] = []
        if self._rhythm is not None:
            episodes = list(self._rhythm.process(beats, quality, vf))
            if final:
                episodes += self._rhythm.flush()
        alerts = list(self._alerts.process(episodes)) if self._alerts is not None else []
        self._account(beats, quality, episodes)
        return PipelineOutput(start, filtered, beats, quality, episodes, alerts)

    def _account(self, beats: list[ClassifiedBeat], quality: list[Any],
                 episodes: list[Any]) -> None:
        summary = self.summary
        for beat in beats:
            self._counts[beat.label] += 1
            if beat.rr_before_s is not None and beat.rr_before_s <= MAX_RR_S:
                self._rr.append(beat.rr_before_s)
        if beats:
            self._last_beat = beats[-1].index
            summary.counts.update(self._counts)
            if len(self._rr) >= 2:
                summary.heart_rate_bpm = 60.0 / float(np.median(self._rr))
        silent_s = (self._n - self._last_beat) / self.fs
        if self._last_beat >= 0 and silent_s > HR_STALE_S + self._qrs.delay_s:
            summary.heart_rate_bpm = None
            self._rr.clear()
        for second in quality:
            readable = bool(getattr(second, "readable", True))
            self._readable.append(readable)
            reason = "" if readable else str(getattr(second, "reason", "") or "unreadable")
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


def _judge(stage: SecondStage | None, x: np.ndarray, final: bool) -> list[Any]:
    if stage is None:
        return []
    out = list(stage.process(x))
    if final:
        out += stage.flush()
    return out


def _stage_name(stage: object | None) -> str:
    return "none" if stage is None else type(stage).__name__
