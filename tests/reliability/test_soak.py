"""Soak: a whole day through the streaming path at high speed, memory sampled every hour.

The daemon runs for days, so anything that grows with time (a buffer never trimmed,
a list of every beat, a leaked file or thread) eventually takes the machine down. The
48 MIT-BIH records (24.07 h, lead MLII at 130 Hz) are replayed back to back as one
continuous stream in 1-second chunks, like a strap's; at every simulated hour the
Python heap (tracemalloc), the resident memory, the open files and the threads are
sampled. A second soak runs the real daemon process for a simulated day. Opt in with
ECGMON_SOAK=1 (several minutes).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
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


DAY_S = 24 * 3600.0
DAEMON_SPEED = 800.0
DAEMON_RSS_GROWTH_LIMIT = 20_000_000
"""Bytes of resident memory the daemon may gain between simulated hour 2 and hour 24:
a leak of 200 bytes per beat (about 100,000 beats a day) or 2 bytes per sample crosses
it, while allocator noise (a few MB) does not."""


@pytest.mark.soak
def test_the_daemon_runs_a_simulated_day_with_flat_memory(tmp_path: Path, tally: Tally) -> None:
    """`ecgmon daemon` replays the looped 5-minute fixture through the virtual strap at up
    to 800x for 24 simulated hours, writing its encrypted log; every simulated hour its
    RSS, open files and threads are sampled: RSS gains under 20 MB after hour 2, files
    and threads do not grow, and SIGTERM still stops it cleanly."""
    pytest.importorskip("monitor.daemon.service", reason="needs the daemon (daemon branch)")
    from monitor.store.keys import Identity
    from monitor.store.recipients import save_recipients

    from . import daemonkit

    root = Path(tempfile.mkdtemp(prefix="ecgsoak-", dir="/tmp"))
    try:
        recipients = root / "recipients.json"
        save_recipients(recipients, [Identity.generate().recipient])
        daemon = daemonkit.start(root, recipients=recipients, speed=DAEMON_SPEED)
        proc = psutil.Process(daemon.proc.pid)
        hours: list[tuple[float, int, int, int]] = []
        deadline = time.monotonic() + 20 * 60
        try:
            while time.monotonic() < deadline:
                stream_s = float(daemon.status()["stream_s"])
                if stream_s >= (len(hours) + 1) * 3600.0:
                    hours.append(
                        (stream_s, proc.memory_info().rss, proc.num_fds(), proc.num_threads())
                    )
                    tally.case()
                if stream_s >= DAY_S:
                    break
                time.sleep(0.5)
        finally:
            code = daemon.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rss = [h[1] for h in hours]
    tally.note(
        f"{len(hours)} simulated hours; RSS {rss[1] / 1e6:.1f} -> {rss[-1] / 1e6:.1f} MB, "
        f"files {hours[1][2]} -> {hours[-1][2]}, threads {hours[1][3]} -> {hours[-1][3]}"
        if len(hours) > 1
        else "fewer than two simulated hours"
    )
    assert len(hours) >= 24, f"only {len(hours)} simulated hours in 20 minutes"
    assert max(rss[1:]) - rss[1] < DAEMON_RSS_GROWTH_LIMIT, [r - rss[1] for r in rss]
    assert hours[-1][2] <= hours[1][2]
    assert hours[-1][3] <= hours[1][3]
    assert code == 0
