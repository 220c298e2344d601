"""Offline analysis of a recording through the same streaming stages a strap uses.

The recording is resampled to the working rate (as the strap would deliver it),
streamed chunk by chunk through the detector, and the results are mapped back to
the recording's own sample rate so they line up with its reference labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from monitor.classify.alerts import Alert, AlertManager
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.rhythm import Episode, final_episodes, make_beats, run_rhythm
from monitor.errors import InputError
from monitor.recording import Recording
from monitor.signal import WORKING_FS
from monitor.signal.filters import ecg_filter
from monitor.signal.qrs import QrsDetector
from monitor.signal.resample import resample_record

if TYPE_CHECKING:
    from monitor.classify.classifier import BeatClassifier

STREAM_CHUNK_S = 60.0
"""Replay chunk length: large chunks are fast, and chunking never changes results."""

FLAT_UV = 5.0
"""A recording whose peak-to-peak amplitude is below this many microvolts carries no ECG."""


@dataclass(frozen=True)
class BeatResult:
    """One detected beat, in the recording's own sample rate and in seconds."""

    sample: int
    time_s: float
    label: str | None = None
    """AAMI class (N S V F Q) from the beat classifier; None when not classified."""
    confidence: float | None = None


@dataclass(frozen=True)
class AnalysisResult:
    record: str
    fs: float
    working_fs: float
    beats: list[BeatResult]
    detector_delay_s: float
    episodes: list[Episode] = field(default_factory=list)
    """Finished rhythm episodes (and unreadable stretches), times in seconds."""
    alerts: list[Alert] = field(default_factory=list)


def check_signal(recording: Recording) -> None:
    """Refuse input that holds no ECG at all, with the reason."""
    x = recording.samples_uv
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise InputError(f"{recording.name}: the signal holds no finite samples")
    if finite.size < 2 * recording.fs:
        raise InputError(f"{recording.name}: the signal is shorter than 2 s")
    if float(np.ptp(finite)) < FLAT_UV:
        raise InputError(f"{recording.name}: the signal is flat (no ECG: leads off?)")


def analyze_recording(
    recording: Recording,
    progress: Callable[[float], None] | None = None,
    working_fs: float = WORKING_FS,
    classify: bool = True,
) -> AnalysisResult:
    """Detect (and classify) every beat of a recording at the working rate, in chunks."""
    check_signal(recording)
    x = recording.samples_uv
    x = np.where(np.isfinite(x), x, np.nan)
    if recording.fs != working_fs:
        # Resampling spreads NaN; hold the last finite value first (as the detector does).
        x = _hold_nan(x)
        x = resample_record(x, recording.fs, working_fs)
    detector = QrsDetector(working_fs)
    classifier = _classifier(working_fs) if classify else None
    ecg = ecg_filter(working_fs)
    step = max(1, round(STREAM_CHUNK_S * working_fs))
    found: list[np.ndarray] = []
    classified: list[ClassifiedBeat] = []
    for start in range(0, x.size, step):
        chunk = x[start : start + step]
        found.append(detector.process(chunk))
        if classifier is not None:
            classified += classifier.process(ecg.process(chunk), found[-1])
        if progress is not None:
            progress(min(1.0, (start + step) / x.size))
    found.append(detector.flush())
    if classifier is not None:
        classified += classifier.process(np.empty(0), found[-1]) + classifier.flush()
    peaks = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    scale = recording.fs / working_fs
    samples = np.clip(np.round(peaks * scale).astype(np.int64), 0, len(recording.samples_uv) - 1)
    beats = [BeatResult(int(s), float(s) / recording.fs) for s in samples]
    if classifier is not None:
        beats = [BeatResult(b.sample, b.time_s, c.label, c.confidence)
                 for b, c in zip(beats, classified, strict=True)]
    # Rhythm over the classified beats (all 'N' when classification is off).
    rhythm_beats = classified if classifier is not None else make_beats(
        peaks, ["N"] * len(peaks), working_fs)
    events = run_rhythm(x, working_fs, rhythm_beats)
    return AnalysisResult(recording.name, recording.fs, working_fs, beats, detector.delay_s,
                          final_episodes(events), AlertManager().process(events))


def _classifier(working_fs: float) -> BeatClassifier:
    from monitor.classify.classifier import BeatClassifier

    return BeatClassifier(fs=working_fs)


def _hold_nan(x: np.ndarray) -> np.ndarray:
    bad = np.isnan(x)
    if not bad.any():
        return x
    idx = np.where(bad, 0, np.arange(x.size))
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = np.flatnonzero(~bad)
    out[: first[0]] = x[first[0]]
    return out
