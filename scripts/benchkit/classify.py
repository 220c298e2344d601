"""Beat classification: the shipped int8 model against its float32 original.

Inputs are real: every beat ecgmon's detector found in the corpus (the side-by-side
run's R-peaks), cut from the runtime-filtered signal and featurised by
`monitor.classify.features.featurize`, exactly what the classifier feeds onnxruntime.
Both models run in `monitor.classify.model.BeatModel` (onnxruntime, one thread):
- per-beat latency: one beat per call, as when a single beat becomes final live;
- batch throughput: batches of the classifier's own size, as in a replay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from benchkit.corpus import WORKING_FS, Corpus
from benchkit.report import Section, Status, table
from benchkit.timing import Stats

SHIPPED = "beat-student-int8"
ORIGINAL = "beat-student-fp32"
LATENCY_BEATS = 2000
"""Beats timed one per call (spread over the corpus)."""


@dataclass(frozen=True)
class ModelFigures:
    name: str
    file_bytes: int
    latency_us: Stats  # median per-call latency of each repeat
    latency_p99_us: Stats
    batch_beats_per_s: Stats
    labels: np.ndarray


def features(corpus: Corpus, peaks: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, float]:
    """(waves, context, CPU s) for every detected beat of every record."""
    from monitor.classify.features import featurize
    from monitor.signal.filters import filter_ecg

    waves, contexts = [], []
    c0 = time.process_time()
    for rec, p in zip(corpus.records, peaks, strict=True):
        if p.size:
            w, c = featurize(filter_ecg(rec.samples, WORKING_FS), p, WORKING_FS)
            waves.append(w)
            contexts.append(c)
    cpu = time.process_time() - c0
    return np.concatenate(waves), np.concatenate(contexts), cpu


def measure_model(name: str, waves: np.ndarray, context: np.ndarray, repeats: int) -> ModelFigures:
    from monitor.classify.classifier import BATCH
    from monitor.classify.model import BeatModel

    model = BeatModel(name, threads=1)
    model.predict(waves[:8], context[:8])  # warm-up: first run allocates
    pick = np.linspace(0, len(waves) - 1, min(LATENCY_BEATS, len(waves))).astype(np.int64)
    med, p99, thr = [], [], []
    labels = np.empty(0, dtype=np.int64)
    for _ in range(repeats):
        lat = np.empty(pick.size)
        for j, i in enumerate(pick):
            t0 = time.perf_counter()
            model.predict(waves[i : i + 1], context[i : i + 1])
            lat[j] = time.perf_counter() - t0
        med.append(float(np.median(lat)) * 1e6)
        p99.append(float(np.percentile(lat, 99)) * 1e6)
        c0 = time.process_time()
        probs = [
            model.predict(waves[i : i + BATCH], context[i : i + BATCH])
            for i in range(0, len(waves), BATCH)
        ]
        thr.append(len(waves) / max(time.process_time() - c0, 1e-9))
        labels = np.concatenate([p.argmax(axis=1) for p in probs])
    return ModelFigures(
        name, model.path.stat().st_size, Stats(tuple(med)), Stats(tuple(p99)),
        Stats(tuple(thr)), labels,
    )  # fmt: skip


def classify_section(
    corpus: Corpus, peaks: tuple[np.ndarray, ...], repeats: int, facts: dict[str, str]
) -> Section:
    waves, context, feat_cpu = features(corpus, peaks)
    figures = []
    missing = []
    for name in (SHIPPED, ORIGINAL):
        try:
            figures.append(measure_model(name, waves, context, repeats))
        except Exception as exc:  # a model file missing is a result to state
            missing.append(f"- {name}: not measured ({exc})")
    rows = [
        [
            f.name,
            f"{f.file_bytes / 1000:.1f}",
            f.latency_us.fmt(0),
            f.latency_p99_us.fmt(0),
            f.batch_beats_per_s.fmt_count(),
            f"{len(waves) / f.batch_beats_per_s.median:.3f}",
        ]
        for f in figures
    ]
    body = [
        f"{len(waves):,} beats (every beat ecgmon detected in {corpus.duration_s / 3600:.2f} h), "
        f"featurised in {feat_cpu:.2f} CPU s ({len(waves) / max(feat_cpu, 1e-9):,.0f} beats/s). "
        f"Latency: {min(LATENCY_BEATS, len(waves)):,} beats one per call (wall µs, median and "
        "99th percentile within a repeat); throughput: all beats in the classifier's batches "
        "(CPU). Median (min-max) over the repeats, onnxruntime on one thread.",
        "",
        *table(
            ["model", "file kB", "latency µs", "p99 µs", "batch beats/s", "CPU s for all beats"],
            rows,
        ),
        "",
    ]
    if len(figures) == 2:
        agree = float(np.mean(figures[0].labels == figures[1].labels)) * 100
        speedup = figures[0].batch_beats_per_s.median / figures[1].batch_beats_per_s.median
        body.append(
            f"- int8 vs float32: {speedup:.2f}x the batch throughput; one beat per call takes "
            f"{figures[0].latency_us.median:.0f} µs vs {figures[1].latency_us.median:.0f} µs "
            "(at one beat the call overhead dominates); the same label on "
            f"{agree:.2f}% of beats (accuracy against the reference labels: docs/MODEL.md)."
        )
        facts["classify"] = (
            f"int8 {figures[0].batch_beats_per_s.median:,.0f} beats/s, "
            f"{figures[0].latency_us.median:.0f} µs per beat"
        )
    body += missing
    status = Status.MEASURED if not missing else Status.PARTIAL
    return Section(
        "Beat classification: int8 vs float32",
        status,
        body,
        "" if not missing else "a model file is missing",
    )
