"""Side-by-side QRS detection on the 24 h: ecgmon's streaming detector and its peers.

Every detector gets the same 130 Hz samples and is scored the same way (every
reference beat, 150 ms window, `monitor.evaluation.score_detections`). ecgmon runs as
it does live, streamed in chunks (60 s for replay, 1 s like a strap's notifications);
the peers run as their documentation shows, on a whole record at once, which is the
easier job (they see the future of the signal).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchkit.corpus import WORKING_FS, Corpus, Score, score
from benchkit.report import Section, Status, table
from benchkit.timing import Timed, fmt_speed, measure
from monitor.signal.filters import ecg_filter
from monitor.signal.qrs import QrsDetector

Detect = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Detector:
    name: str
    how: str
    package: str | None  # the import that must succeed, None for ecgmon itself
    make: Callable[[], Detect]


def streamed(chunk_s: float) -> Detect:
    def detect(x: np.ndarray, fs: float) -> np.ndarray:
        detector = QrsDetector(fs)
        step = max(1, round(chunk_s * fs))
        found = [detector.process(x[i : i + step]) for i in range(0, x.size, step)]
        found.append(detector.flush())
        return np.concatenate(found)

    return detect


def _neurokit(clean: bool) -> Detect:
    import neurokit2 as nk

    def detect(x: np.ndarray, fs: float) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sig = nk.ecg_clean(x, sampling_rate=fs, method="neurokit") if clean else x
            _, info = nk.ecg_peaks(sig, sampling_rate=fs, method="neurokit")
        return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)

    return detect


def _sleepecg() -> Detect:
    import sleepecg

    def detect(x: np.ndarray, fs: float) -> np.ndarray:
        return np.asarray(sleepecg.detect_heartbeats(x, fs, backend="c"), dtype=np.int64)

    return detect


def _pan_tompkins() -> Detect:
    from ecgdetectors import Detectors

    def detect(x: np.ndarray, fs: float) -> np.ndarray:
        return np.asarray(Detectors(fs).pan_tompkins_detector(x), dtype=np.int64)

    return detect


ECGMON_60 = Detector(
    "ecgmon, 60 s chunks", "`QrsDetector` streamed, replay-sized chunks", None, lambda: streamed(60)
)
ECGMON_1 = Detector(
    "ecgmon, 1 s chunks", "`QrsDetector` streamed, strap-sized chunks", None, lambda: streamed(1)
)
PEERS = (
    Detector(
        "NeuroKit2 ecg_peaks",
        "`ecg_peaks(x, method='neurokit')` on the unfiltered samples",
        "neurokit2",
        lambda: _neurokit(clean=False),
    ),
    Detector(
        "NeuroKit2 ecg_clean + ecg_peaks",
        "`ecg_clean(method='neurokit')` then `ecg_peaks` (what `ecg_process` does)",
        "neurokit2",
        lambda: _neurokit(clean=True),
    ),
    Detector(
        "sleepecg detect_heartbeats",
        "`detect_heartbeats(x, fs, backend='c')` (compiled C core, zero-phase filter)",
        "sleepecg",
        _sleepecg,
    ),
    Detector(
        "Pan-Tompkins (py-ecg-detectors)",
        "`Detectors(fs).pan_tompkins_detector(x)`",
        "ecgdetectors",
        _pan_tompkins,
    ),
)


@dataclass(frozen=True)
class Outcome:
    detector: Detector
    timed: Timed
    score: Score
    failures: tuple[str, ...]
    peaks: tuple[np.ndarray, ...]


def run_detector(det: Detector, corpus: Corpus, repeats: int) -> Outcome:
    detect = det.make()
    detect(corpus.records[0].samples[: round(60 * WORKING_FS)], WORKING_FS)  # warm-up
    failures: list[str] = []

    def one_pass() -> list[np.ndarray]:
        failures.clear()
        out = []
        for rec in corpus.records:
            try:
                out.append(detect(rec.samples, WORKING_FS))
            except Exception as exc:  # a peer failing on a record is a result, not a crash
                failures.append(f"{rec.name}: {type(exc).__name__}")
                out.append(np.empty(0, dtype=np.int64))
        return out

    timed, peaks = measure(one_pass, repeats)
    total = Score(0, 0, 0)
    for rec, p in zip(corpus.records, peaks, strict=True):
        total = total + score(rec, p)
    return Outcome(det, timed, total, tuple(failures), tuple(peaks))


def available(det: Detector) -> str | None:
    """None if the detector can run, else why not."""
    if det.package is None:
        return None
    try:
        importlib.import_module(det.package)
    except ImportError as exc:
        return f"not installed ({exc}); install the bench extra: pip install -e '.[bench]'"
    return None


def filter_stage(corpus: Corpus, repeats: int, chunk_s: float = 60.0) -> Timed:
    """The runtime 0.5-40 Hz ECG filter (what the classifier and the trace see), streamed."""

    def one_pass() -> int:
        n = 0
        for rec in corpus.records:
            filt = ecg_filter(WORKING_FS)
            step = round(chunk_s * WORKING_FS)
            for i in range(0, rec.samples.size, step):
                n += filt.process(rec.samples[i : i + step]).size
        return n

    return measure(one_pass, repeats)[0]


@dataclass
class QrsResults:
    section: Section
    ecgmon_60: Outcome
    ecgmon_1: Outcome
    filter_timed: Timed


def side_by_side(
    corpus: Corpus, repeats: int, log: Callable[[str], None], peers: bool = True
) -> QrsResults:
    hours = corpus.duration_s
    outcomes: list[Outcome] = []
    notes: list[str] = []
    for det in (ECGMON_60, ECGMON_1, *(PEERS if peers else ())):
        why = available(det)
        if why is not None:
            notes.append(f"- {det.name}: skipped, {why}")
            continue
        log(f"  QRS: {det.name} ...")
        out = run_detector(det, corpus, repeats)
        outcomes.append(out)
        log(
            f"    Se {out.score.se:.2f}%  +P {out.score.ppv:.2f}%  CPU {out.timed.cpu.fmt(3, ' s')}"
        )
        if out.failures:
            notes.append(
                f"- {det.name} raised on {len(out.failures)} records: " + ", ".join(out.failures)
            )
    base = outcomes[0]
    base_speed = base.timed.cpu.median
    rows = []
    for out in outcomes:
        speed = out.timed.cpu.inverse_scaled(hours)
        rows.append(
            [
                out.detector.name,
                f"{out.score.se:.2f}",
                f"{out.score.ppv:.2f}",
                f"{out.score.fn:,}",
                f"{out.score.fp:,}",
                out.timed.cpu.fmt(2),
                out.timed.wall.fmt(2),
                fmt_speed(speed),
                f"{base_speed / out.timed.cpu.median:.2f}",
            ]
        )
    same = _same_beats(outcomes[0], outcomes[1])
    body = [
        f"The same ECG for every detector: {corpus.describe()}. "
        "Accuracy counts every reference beat label with a 150 ms window "
        "(`monitor.evaluation.score_detections`, i.e. `wfdb.processing.compare_annotations`); "
        "detections are mapped back to 360 Hz to be scored. Times are CPU seconds "
        f"for all {hours / 3600:.2f} h on one thread, detection only (loading and scoring "
        "excluded): "
        "median (min-max) over the repeats. *speed vs ecgmon* is ecgmon's CPU time (60 s "
        "chunks) divided by the detector's: above 1 the detector is faster than ecgmon.",
        "",
        *table(
            [
                "detector",
                "Se %",
                "+P %",
                "FN",
                "FP",
                "CPU s",
                "wall s",
                "x real time (CPU)",
                "speed vs ecgmon 60 s",
            ],
            rows,
        ),
        "",
        "How each was called:",
        "",
        *[f"- {o.detector.name}: {o.detector.how}" for o in outcomes],
        "",
        f"- ecgmon gives the same beats whatever the chunk size: {same}.",
        "- The peers see the whole record at once (sleepecg filters forwards and backwards, "
        "NeuroKit2 smooths with centred windows); ecgmon decides every beat within "
        f"{QrsDetector(WORKING_FS).delay_s:.2f} s of it, as a live monitor must.",
        *notes,
    ]
    filt = filter_stage(corpus, repeats)
    return QrsResults(
        Section("Side by side: QRS detection on the same 24 h", Status.MEASURED, body),
        outcomes[0],
        outcomes[1],
        filt,
    )


def _same_beats(a: Outcome, b: Outcome) -> str:
    differ = [
        i for i, (p, q) in enumerate(zip(a.peaks, b.peaks, strict=True)) if not np.array_equal(p, q)
    ]
    if not differ:
        n = sum(p.size for p in a.peaks)
        return f"all {n:,} R-peaks identical with 60 s and 1 s chunks"
    return f"R-peaks DIFFER between chunk sizes on {len(differ)} records (a bug to report)"
