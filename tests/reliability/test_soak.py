"""Soak: a whole day through the streaming path at high speed, memory sampled every hour.

The daemon runs for days, so anything that grows with time (a buffer never trimmed,
a list of every beat, a leaked file or thread) eventually takes the machine down. The
48 MIT-BIH records (24.07 h, lead MLII at 130 Hz) are replayed back to back as one
continuous stream in 1-second chunks, like a strap's; at every simulated hour the
Python heap (tracemalloc), the resident memory, the open files and the threads are
sampled. Opt in with ECGMON_SOAK=1 (about a minute of CPU).
"""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import pytest

from monitor.evaluation import MITDB_RECORDS, load_reference
from monitor.signal.filters import ecg_filter
from monitor.signal.qrs import QrsDetector
from monitor.signal.resample import resample_record

from .conftest import Tally

FS = 130.0
CHUNK = 130
HOUR = round(3600 * FS)
HEAP_GROWTH_LIMIT = 1_000_000
"""Bytes the heap may grow between hour 2 and the end. A leak of one byte per beat
(about 110,000 beats) or of 0.1 byte per sample (11 million samples) crosses it."""


@pytest.mark.soak
@pytest.mark.data
def test_a_day_of_streaming_keeps_memory_files_and_threads_flat(mitdb: Path, tally: Tally) -> None:
    """24 h in 1 s chunks through filter + QRS: heap growth after hour 2 under 1 MB,
    open files and threads unchanged, every chunk answered."""
    day = np.concatenate(
        [
            resample_record(r.samples_uv, r.fs, FS)
            for r in (load_reference(mitdb / name) for name in MITDB_RECORDS)
        ]
    )
    proc = psutil.Process()
    filt, qrs = ecg_filter(FS), QrsDetector(FS)
    fds0, threads0 = proc.num_fds(), threading.active_count()
    heap: list[int] = []
    rss: list[int] = []
    beats = 0
    tracemalloc.start()
    try:
        for i in range(0, day.size, CHUNK):
            chunk = day[i : i + CHUNK]
            filt.process(chunk)
            beats += qrs.process(chunk).size
            if (i + CHUNK) % HOUR < CHUNK:
                heap.append(tracemalloc.get_traced_memory()[0])
                rss.append(proc.memory_info().rss)
                tally.case()
        beats += qrs.flush().size
    finally:
        tracemalloc.stop()
    tally.note(
        f"{len(heap)} hourly samples; heap {heap[1] / 1e6:.2f} -> {heap[-1] / 1e6:.2f} MB, "
        f"RSS {rss[1] / 1e6:.1f} -> {rss[-1] / 1e6:.1f} MB, {beats} beats"
    )
    assert len(heap) == 24
    assert max(heap[1:]) - heap[1] < HEAP_GROWTH_LIMIT, [h - heap[1] for h in heap]
    assert proc.num_fds() == fds0
    assert threading.active_count() == threads0
    assert beats > 100_000  # the stream was analysed, not skipped
