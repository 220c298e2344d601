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


@dataclass(frozen=True)
class QualityReading:
    """Signal quality of the latest stretch: 0 (unreadable) .. 1 (clean)."""

    level: float
    noisy: bool
    leads_off: bool = False
    detail: str = ""


@runtime_checkable
class QualityStage(Protocol):
    """Judges signal quality from the filtered samples; returns the latest reading or None."""

    def process(self, filtered: np.ndarray) -> QualityReading | None: ...


@dataclass(frozen=True)
class RhythmEvent:
    """An episode or an alert from the rhythm stage, in the form clients receive it.

    kind: "episode" or "alert"; name: e.g. "AF", "pause", "tachycardia";
    start_s/end_s: stream seconds (end None while ongoing); detail: free text.
    """

    kind: str
    name: str
    start_s: float
    end_s: float | None = None
    detail: str = ""
    severity: str = "warning"
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RhythmUpdate:
    rhythm: str | None
    events: list[RhythmEvent]


@runtime_checkable
class RhythmStage(Protocol):
    """Rhythm analysis over the classified beats: current rhythm plus episodes/alerts."""

    def process(self, beats: Sequence[ClassifiedBeat], now_s: float) -> RhythmUpdate: ...


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
    samples of this frame at the working rate (for the live trace).
    """

    start_index: int
    trace_uv: np.ndarray
    beats: list[ClassifiedBeat]
    events: list[RhythmEvent]
    quality: QualityReading | None


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
    """EcgFrame -> filtered trace, classified beats, rhythm events, running summary."""

    def __init__(
        self,
        classifier: ClassifierStage | None = None,
        rhythm: RhythmStage | None = None,
        quality: QualityStage | None = None,
        fs: float = WORKING_FS,
    ) -> None:
        self.fs = fs
        self._filter = ecg_filter(fs)
        self._qrs = QrsDetector(fs)
        self._classifier: ClassifierStage = classifier or Unclassified(fs)
        self._rhythm = rhythm
        self._quality = quality
        self._resampler: StreamingResampler | None = None
        self._input_fs: float | None = None
        self._n = 0
        self._rr: deque[float] = deque(maxlen=HR_BEATS)
        self._counts: Counter[str] = Counter()
        self._last_beat = -1
        self.summary = Summary(
            counts={c: 0 for c in (*BEAT_CLASSES, UNCLASSIFIED)},
            stages={
                "classifier": "none" if classifier is None else type(classifier).__name__,
                "rhythm": "none" if rhythm is None else type(rhythm).__name__,
                "quality": "none" if quality is None else type(quality).__name__,
            },
        )

    @property
    def detector_delay_s(self) -> float:
        return self._qrs.delay_s

    def process(self, frame: EcgFrame) -> PipelineOutput:
        """Feed one frame (any rate from 100 to 1000 Hz; resampled to the working rate)."""
        return self._run(self._to_working_rate(frame), final=False)

    def flush(self) -> PipelineOutput:
        """End of stream: decide every pending beat."""
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
        beats = self._classifier.process(filtered, peaks)
        if final:
            beats += self._classifier.flush()
        quality = self._quality.process(filtered) if self._quality is not None else None
        events: list[RhythmEvent] = []
        summary = self.summary
        if self._rhythm is not None:
            update = self._rhythm.process(beats, self._n / self.fs)
            summary.rhythm = update.rhythm
            events = update.events
        self._account(beats)
        summary.samples = self._n
        summary.stream_s = self._n / self.fs
        if quality is not None:
            summary.quality = quality
        return PipelineOutput(start, filtered, beats, events, quality)

    def _account(self, beats: list[ClassifiedBeat]) -> None:
        for beat in beats:
            self._counts[beat.label] += 1
            if beat.rr_before_s is not None and beat.rr_before_s <= MAX_RR_S:
                self._rr.append(beat.rr_before_s)
        if beats:
            self._last_beat = beats[-1].index
            self.summary.counts.update(self._counts)
            if len(self._rr) >= 2:
                self.summary.heart_rate_bpm = 60.0 / float(np.median(self._rr))
        silent_s = (self._n - self._last_beat) / self.fs
        if self._last_beat >= 0 and silent_s > HR_STALE_S + self._qrs.delay_s:
            self.summary.heart_rate_bpm = None
            self._rr.clear()
