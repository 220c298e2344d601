"""Builders shared by the rhythm tests: synthetic beat streams and per-second verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from monitor.classify.beat import ClassifiedBeat
from monitor.classify.rhythm import Episode, make_beats, run_rhythm
from monitor.classify.vf import VfSecond
from monitor.evaluation import Reference, load_reference
from monitor.signal import WORKING_FS
from monitor.signal.quality import QualitySecond

FS = WORKING_FS


def beats_from_rr(
    rr_s: Sequence[float], labels: str | Sequence[str] | None = None, start_s: float = 0.5
) -> list[ClassifiedBeat]:
    """Beats whose successive intervals are `rr_s` (labels default to all N)."""
    times = start_s + np.concatenate([[0.0], np.cumsum(rr_s)])
    peaks = np.round(times * FS).astype(np.int64)
    labs = list(labels) if labels is not None else ["N"] * len(peaks)
    assert len(labs) == len(peaks)
    return make_beats(peaks, labs, FS)


def ectopic_rr(labels: str, base_s: float, early: float = 0.6) -> list[float]:
    """Intervals for a label string: `base_s`, and `early` times it into each V beat
    (ventricular beats come early; at the usual rate the V-run rate check,
    `monitor.classify.vrun_check`, rightly makes no run of them)."""
    return [base_s * (early if c == "V" else 1.0) for c in labels[1:]]


def good_seconds(first: int, last: int) -> list[QualitySecond]:
    """Readable verdicts for seconds first..last-1."""
    return [QualitySecond(k, True, None, 20.0, 0.05, 0.01) for k in range(first, last)]


def vf_quality(first: int, last: int) -> list[QualitySecond]:
    """What the quality stage says of VF: readable or not, no QRS standing out (a high
    envelope median / peak ratio)."""
    return [QualitySecond(k, True, None, 2.5, 0.3, 0.01) for k in range(first, last)]


def bad_seconds(first: int, last: int, reason: str = "noise") -> list[QualitySecond]:
    return [QualitySecond(k, False, reason, 3.0, 0.3, 0.01) for k in range(first, last)]


def quiet_vf(first: int, last: int) -> list[VfSecond]:
    return [VfSecond(k, False, 0.1, 0.2, 0.3, 1.0) for k in range(first, last)]


def vf_seconds(first: int, last: int) -> list[VfSecond]:
    return [VfSecond(k, True, 0.6, 0.8, 0.02, 5.0) for k in range(first, last)]


def kinds(events: Sequence[Episode], final: bool = True) -> list[str]:
    return [e.kind for e in events if e.final == final]


def reference_labels(ref: Reference, peaks: np.ndarray) -> list[str]:
    """The AAMI class of the reference beat nearest each detection (Q beyond 150 ms)."""
    from monitor.evaluation import AAMI_CLASS

    t = peaks / FS
    rt = ref.beat_samples / ref.fs
    j = np.clip(np.searchsorted(rt, t), 1, len(rt) - 1)
    nearest = np.where(np.abs(t - rt[j - 1]) <= np.abs(t - rt[j]), j - 1, j)
    ok = np.abs(rt[nearest] - t) <= 0.15
    return [
        AAMI_CLASS.get(str(ref.beat_symbols[k]), "Q") if good else "Q"
        for k, good in zip(nearest, ok, strict=True)
    ]


@lru_cache(maxsize=16)
def run_mitdb(folder: Path, record: str) -> tuple[tuple[Episode, ...], Reference]:
    """Detect, label with the reference classes and analyse one MIT-BIH record (cached)."""
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(folder / record)
    x = resample_record(ref.samples_uv, ref.fs, FS)
    peaks = detect_qrs(x, FS)
    events = run_rhythm(x, FS, make_beats(peaks, reference_labels(ref, peaks), FS))
    return tuple(events), ref


def reference_intervals(ref: Reference, notes: set[str]) -> list[tuple[float, float]]:
    """Reference rhythm intervals whose label is in `notes`."""
    labels = list(ref.rhythm_notes)
    times = [s / ref.fs for s in ref.rhythm_samples] + [ref.duration_s]
    return [(times[i], times[i + 1]) for i, n in enumerate(labels) if n in notes]


def overlap_s(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)
