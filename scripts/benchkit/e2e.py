"""End-to-end replay of the 24 h in a fresh process, for honest CPU time and peak memory.

The parent writes the day as the strap would deliver it (one file of samples, one
stream per record) to a temporary folder; a child process (`bench.py --worker e2e`)
imports ecgmon, notes its resident memory, replays every stream through the stages
that exist on this branch, and reports CPU seconds and `ru_maxrss` as JSON on stdout.
The day is read from disk in strap-sized pieces, never held in memory, so peak RSS is
what a monitor needs, not what the benchmark needs to hold 24 h of float64.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchkit.corpus import WORKING_FS, Corpus
from benchkit.machine import single_thread_env

SAMPLE_DTYPE = np.dtype("<i4")
"""Samples on disk as whole microvolts, as the H10's PMD frames carry them."""
CHUNK_S = 60.0
"""Replay piece length (the daemon's replay feeds strap frames; see the report)."""


def write_day(corpus: Corpus, folder: Path) -> Path:
    """The corpus as int32 microvolts plus an index of streams; returns the index path."""
    data = folder / "day.i32"
    streams = []
    with data.open("wb") as out:
        for rec in corpus.records:
            uv = np.round(rec.samples).astype(SAMPLE_DTYPE)
            out.write(uv.tobytes())
            streams.append({"name": rec.name, "samples": int(uv.size)})
    index = folder / "day.json"
    index.write_text(json.dumps({"fs": WORKING_FS, "data": data.name, "streams": streams}))
    return index


@dataclass(frozen=True)
class ChildResult:
    chain: list[str]
    cpu_s: float
    wall_s: float
    rss_after_imports_mb: float
    peak_rss_mb: float
    beats: int
    samples: int


def run_child(index: Path, script: Path) -> ChildResult:
    """Run `script --worker e2e --index INDEX` single-threaded; parse its JSON line."""
    proc = subprocess.run(
        [sys.executable, str(script), "--worker", "e2e", "--index", str(index)],
        env=single_thread_env(dict(os.environ)),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"e2e worker failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return ChildResult(**json.loads(proc.stdout.strip().splitlines()[-1]))


def _maxrss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    VmHWM (the high-water mark of this address space) rather than `ru_maxrss`:
    Python starts children with vfork + exec, and Linux carries the parent's peak
    into the child's `ru_maxrss` across exec, so a child of the benchmark (which holds
    the 24 h and the peers) would report the parent's memory. VmHWM belongs to the
    address space the exec created. `ru_maxrss` is the fallback off Linux.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class _SignalPath:
    """Filter + QRS: the subset of the pipeline present before monitor.pipeline lands."""

    chain = ("read int32 µV", "0.5-40 Hz filter", "QRS (streaming)")

    def __init__(self, fs: float) -> None:
        from monitor.signal.filters import ecg_filter
        from monitor.signal.qrs import QrsDetector

        self._filter = ecg_filter(fs)
        self._qrs = QrsDetector(fs)

    def process(self, x: np.ndarray) -> int:
        self._filter.process(x)
        return int(self._qrs.process(x).size)

    def flush(self) -> int:
        return int(self._qrs.flush().size)


def worker(index_path: Path) -> int:
    """Child side: replay every stream, print one JSON line."""
    index = json.loads(index_path.read_text())
    fs = float(index["fs"])
    data = index_path.parent / index["data"]
    step = round(CHUNK_S * fs)
    _SignalPath(fs)  # import and build once so the baseline includes the code
    rss_imports = _maxrss_mb()
    beats = samples = 0
    c0, w0 = time.process_time(), time.perf_counter()
    with data.open("rb") as src:
        for stream in index["streams"]:
            path = _SignalPath(fs)
            left = int(stream["samples"])
            while left:
                n = min(step, left)
                x = np.frombuffer(src.read(n * SAMPLE_DTYPE.itemsize), dtype=SAMPLE_DTYPE)
                beats += path.process(x.astype(np.float64))
                samples += n
                left -= n
            beats += path.flush()
    result = ChildResult(
        chain=list(_SignalPath.chain),
        cpu_s=time.process_time() - c0,
        wall_s=time.perf_counter() - w0,
        rss_after_imports_mb=rss_imports,
        peak_rss_mb=_maxrss_mb(),
        beats=beats,
        samples=samples,
    )
    print(json.dumps(result.__dict__))
    return 0
