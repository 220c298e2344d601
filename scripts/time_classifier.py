"""CPU time of the streaming beat classifier alone, as the end-to-end replay feeds it.

The 48 MIT-BIH records (about 24 h at 130 Hz, lead MLII) are joined into one stream,
as `scripts/bench.py` replays them, and run once through `monitor.pipeline.Pipeline`'s
own filter and QRS detector in frames of `--chunk-s` seconds (60 s: 107 strap
notifications of 73 samples, the replay's frames; 1 s: the live path). What the
pipeline hands its classifier in each call (the filtered chunk, the R-peaks) is cached
(pickle, outside the repo); the timing then covers `BeatClassifier.process`/`flush`
alone, timed around each call as the benchmark's stage timer does.

With ``--compare module.path`` (e.g. ``tests.classify.classifier_reference``, the
oracle) the calls are interleaved with a second implementation, alternating which
goes first (the machine is shared: interleaving keeps the conditions alike), and the
beats of the two are checked identical (every field, floats compared exactly). The
oracle builds the same `ClassifiedBeat` class as the current code, so any change to
that class is in both figures.

    python scripts/time_classifier.py --compare tests.classify.classifier_reference
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from monitor.classify.model import BeatModel
from monitor.evaluation import MITDB_RECORDS, default_data_dir, load_reference
from monitor.frame import EcgFrame
from monitor.pipeline import Pipeline
from monitor.signal import WORKING_FS
from monitor.signal.resample import resample_record

NOTIFICATION = 73
"""Samples per Polar H10 notification at 130 Hz: the replay gathers whole ones."""

Call = tuple[np.ndarray, np.ndarray] | None
"""One classifier call: (filtered chunk, R-peaks) for process, None for flush."""


class _Recorder:
    """Stands in for the classifier inside the pipeline and keeps what it is given."""

    def __init__(self, calls: list[Call]) -> None:
        self.calls = calls

    def process(self, filtered: np.ndarray, r_peaks: np.ndarray) -> list[Any]:
        self.calls.append((np.array(filtered, dtype=np.float64), np.array(r_peaks, np.int64)))
        return []

    def flush(self) -> list[Any]:
        self.calls.append(None)
        return []


def build(data_dir: Path, chunk_s: float) -> list[Call]:
    """The classifier's calls over the day, fed in frames of whole notifications."""
    day = np.concatenate(
        [
            np.round(resample_record(r.samples_uv, r.fs, WORKING_FS))
            for r in (load_reference(data_dir / name) for name in MITDB_RECORDS)
        ]
    )
    frame = -(-round(chunk_s * WORKING_FS) // NOTIFICATION) * NOTIFICATION
    calls: list[Call] = []
    pipeline = Pipeline(classifier=lambda: _Recorder(calls), fs=WORKING_FS)
    for i in range(0, day.size, frame):
        pipeline.process(EcgFrame(0, WORKING_FS, day[i : i + frame]))
    pipeline.flush()
    return calls


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=default_data_dir() / "mitdb")
    p.add_argument("--chunk-s", type=float, default=60.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compare", default="", help="a module with BeatClassifier or its oracle")
    p.add_argument("--cache", type=Path, default=None, help="pickle of the calls (default: tmp)")
    args = p.parse_args(argv)
    cache = args.cache or Path(tempfile.gettempdir()) / f"ecgmon-classifier-{args.chunk_s:g}s.pkl"
    if cache.exists():
        calls: list[Call] = pickle.loads(cache.read_bytes())
    else:
        calls = build(args.data_dir, args.chunk_s)
        cache.write_bytes(pickle.dumps(calls))
    seconds = sum(c[0].size for c in calls if c is not None) / WORKING_FS
    per_day = 86_400.0 / seconds
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (for tests.classify.*)
    makers = {"monitor.classify.classifier": importlib.import_module("monitor.classify.classifier")}
    if args.compare:
        makers[args.compare] = importlib.import_module(args.compare)
    model = BeatModel()
    names = list(makers)
    print(f"{seconds / 3600:.2f} h of ECG, {len(calls)} calls, {args.chunk_s:g} s frames")
    for rep in range(args.repeats):
        clfs = [
            getattr(m, "BeatClassifier", None) or m.ReferenceBeatClassifier for m in makers.values()
        ]
        running = [make(model, WORKING_FS) for make in clfs]
        spent = [0.0] * len(running)
        beats: list[list[Any]] = [[] for _ in running]
        for i, call in enumerate(calls):
            order = range(len(running)) if i % 2 == 0 else reversed(range(len(running)))
            for k in order:
                c0 = time.process_time()
                out = running[k].flush() if call is None else running[k].process(*call)
                spent[k] += time.process_time() - c0
                beats[k] += out
        line = ", ".join(
            f"{name}: {cpu * per_day:.3f} CPU s per 24 h"
            for name, cpu in zip(names, spent, strict=True)
        )
        same = "" if len(beats) == 1 else f"; beats identical: {beats[0] == beats[1]}"
        print(f"run {rep + 1}: {line} ({len(beats[0]):,} beats){same}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
