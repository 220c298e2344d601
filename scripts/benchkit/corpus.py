"""The 24 hours every section replays: all 48 MIT-BIH records, one lead at 130 Hz.

Loaded once and shared, so every detector and stage sees exactly the same samples:
lead MLII (the first channel for records 102 and 104, which have no MLII) resampled
from 360 Hz to the strap's 130 Hz with `monitor.signal.resample.resample_record`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.evaluation import MITDB_RECORDS, load_reference, score_detections
from monitor.signal.resample import resample_record

WORKING_FS = 130.0
QUICK_RECORDS = ("100", "119", "203", "208")
"""--quick: two hours with normal, bigeminy, noisy and multiform-ectopy stretches."""


@dataclass(frozen=True)
class Record:
    name: str
    ref_fs: float
    samples: np.ndarray  # microvolts at WORKING_FS
    ref_beats: np.ndarray  # reference beat samples at ref_fs

    @property
    def duration_s(self) -> float:
        return self.samples.size / WORKING_FS


@dataclass(frozen=True)
class Corpus:
    records: tuple[Record, ...]
    source: Path

    @property
    def duration_s(self) -> float:
        return sum(r.duration_s for r in self.records)

    @property
    def n_samples(self) -> int:
        return sum(r.samples.size for r in self.records)

    @property
    def n_beats(self) -> int:
        return sum(r.ref_beats.size for r in self.records)

    def describe(self) -> str:
        hours = self.duration_s / 3600
        return (
            f"{len(self.records)} MIT-BIH records from `{self.source}`, "
            f"{hours:.2f} h, {self.n_samples:,} samples at {WORKING_FS:g} Hz, "
            f"{self.n_beats:,} reference beats"
        )


def mitdb_dir(data_dir: Path) -> Path | None:
    """The mitdb folder under `data_dir` (or `data_dir` itself), if it holds the records."""
    for candidate in (data_dir / "mitdb", data_dir):
        if (candidate / "100.hea").is_file():
            return candidate
    return None


def load_corpus(folder: Path, names: tuple[str, ...] = MITDB_RECORDS) -> Corpus:
    records = []
    for name in names:
        ref = load_reference(folder / name)
        x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        records.append(Record(name, ref.fs, x, ref.beat_samples))
    return Corpus(tuple(records), folder)


@dataclass(frozen=True)
class Score:
    tp: int
    fn: int
    fp: int

    @property
    def se(self) -> float:
        return 100.0 * self.tp / max(1, self.tp + self.fn)

    @property
    def ppv(self) -> float:
        return 100.0 * self.tp / max(1, self.tp + self.fp)

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)


def score(record: Record, peaks_working_fs: np.ndarray) -> Score:
    """Score detections made at WORKING_FS against the reference at the record's own rate."""
    at_ref = np.round(np.asarray(peaks_working_fs, dtype=np.float64) * record.ref_fs / WORKING_FS)
    tp, fn, fp = score_detections(record.ref_beats, at_ref.astype(np.int64), record.ref_fs)
    return Score(tp, fn, fp)
