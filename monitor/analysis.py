"""Offline analysis of a recording through the same streaming stages a strap uses.

The recording is resampled to the working rate (as the strap would deliver it),
streamed chunk by chunk through the detector, and the results are mapped back to
the recording's own sample rate so they line up with its reference labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from monitor.errors import InputError
from monitor.recording import Recording
from monitor.signal import WORKING_FS
from monitor.signal.qrs import QrsDetector
from monitor.signal.resample import resample_record

STREAM_CHUNK_S = 60.0
"""Replay chunk length: large chunks are fast, and chunking never changes results."""

FLAT_UV = 5.0
"""A recording whose peak-to-peak amplitude is below this many microvolts carries no ECG."""


@dataclass(frozen=True)
class BeatResult:
    """One detected beat, in the recording's own sample rate and in seconds."""

    sample: int
    time_s: float


@dataclass(frozen=True)
class AnalysisResult:
    record: str
    fs: float
    working_fs: float
    beats: list[BeatResult]
    detector_delay_s: float


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
) -> AnalysisResult:
    """Detect every beat of a recording at the working rate, streamed in chunks."""
    check_signal(recording)
    x = recording.samples_uv
    x = np.where(np.isfinite(x), x, np.nan)
    if recording.fs != working_fs:
        # Resampling spreads NaN; hold the last finite value first (as the detector does).
        x = _hold_nan(x)
        x = resample_record(x, recording.fs, working_fs)
    detector = QrsDetector(working_fs)
    step = max(1, round(STREAM_CHUNK_S * working_fs))
    found: list[np.ndarray] = []
    for start in range(0, x.size, step):
        found.append(detector.process(x[start : start + step]))
        if progress is not None:
            progress(min(1.0, (start + step) / x.size))
    found.append(detector.flush())
    peaks = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    scale = recording.fs / working_fs
    samples = np.clip(np.round(peaks * scale).astype(np.int64), 0, len(recording.samples_uv) - 1)
    beats = [BeatResult(int(s), float(s) / recording.fs) for s in samples]
    return AnalysisResult(recording.name, recording.fs, working_fs, beats, detector.delay_s)


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
