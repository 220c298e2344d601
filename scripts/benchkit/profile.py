"""Where each stage spends its time: the end-to-end chain replayed under cProfile.

The stage table says how long each stage takes; this says why, so a stage's owner
knows what to change. The chain is the one the end-to-end replay builds
(`benchkit.chain.build_chain`), fed the same 60 s frames, with one profiler per stage
switched on only inside that stage's calls (stages never call each other, so exactly
one is active at a time). The profilers count CPU time (`time.process_time`), like
every other figure of the report, so waiting for the disk (the log's fsync) does not
show. cProfile adds a cost to every Python call, so shares of
Python-heavy code are inflated against numpy/C work: read them as pointers, and the
stage table's CPU seconds as the figures.
"""

from __future__ import annotations

import pstats
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchkit.chain import build_chain, frame_of
from benchkit.corpus import WORKING_FS, Corpus
from benchkit.e2e import REPLAY_S, T0_NS
from benchkit.report import Section, Status, table

TOP = 6
"""Functions listed per stage (by time spent in the function itself)."""
MIN_SHARE = 0.02
"""Stages under this share of the profiled chain are named but not broken down."""


@dataclass(frozen=True)
class Hotspot:
    function: str
    own_s: float
    with_callees_s: float
    calls: int


@dataclass(frozen=True)
class StageProfile:
    name: str
    cpu_s: float  # timed around the stage's calls, profiler running
    profiled_s: float  # total own time the profiler saw inside the stage
    hotspots: tuple[Hotspot, ...]


def _where(key: tuple[str, int, str]) -> str:
    """`module.py:line(function)` with the path shortened to the package."""
    path, line, func = key
    if path == "~":
        return func  # a builtin, e.g. <method 'partition' of 'numpy.ndarray' objects>
    parts = Path(path).parts
    for anchor in ("monitor", "numpy", "scipy", "onnxruntime", "cryptography", "sqlite3"):
        if anchor in parts:
            path = "/".join(parts[parts.index(anchor) :])
            break
    else:
        path = Path(path).name
    return f"{path}:{line}({func})"


def _hotspots(stats: pstats.Stats, top: int) -> tuple[float, tuple[Hotspot, ...]]:
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    best = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    return total, tuple(
        Hotspot(_where(key), tt, ct, int(nc)) for key, (_cc, nc, tt, ct, _callers) in best
    )


def profile_stages(
    corpus: Corpus, log: Callable[[str], None], top: int = TOP
) -> list[StageProfile]:
    """Replay `corpus` through the chain in 60 s frames, one profiler per stage."""
    fs = WORKING_FS
    step = round(REPLAY_S * fs)
    day = np.concatenate([np.round(r.samples) for r in corpus.records])
    with tempfile.TemporaryDirectory(prefix="ecgmon-profile-") as tmp:
        chain = build_chain(fs, Path(tmp), timed=True, profile=True)
        c0 = time.process_time()
        for i in range(0, day.size, step):
            chain.feed(frame_of(day[i : i + step], T0_NS + round(i * 1e9 / fs), fs))
        chain.finish()
        chain.close()
        log(f"  profiled replay: {time.process_time() - c0:.1f} CPU s")
    out = []
    for name, prof in chain.profiles.items():
        total, spots = _hotspots(pstats.Stats(prof), top)
        out.append(StageProfile(name, chain.stage_cpu.get(name, 0.0), total, spots))
    return sorted(out, key=lambda p: -p.cpu_s)


def profile_section(corpus: Corpus, log: Callable[[str], None]) -> Section:
    stages = profile_stages(corpus, log)
    rows = []
    total = sum(s.cpu_s for s in stages)
    small = [s for s in stages if s.cpu_s < MIN_SHARE * total]
    for stage in stages:
        if stage in small:
            continue
        for i, spot in enumerate(stage.hotspots):
            rows.append(
                [
                    f"{stage.name} ({stage.cpu_s:.1f} s)" if i == 0 else "",
                    f"`{spot.function}`",
                    f"{100 * spot.own_s / max(stage.profiled_s, 1e-12):.0f}%",
                    f"{spot.own_s:.2f}",
                    f"{spot.with_callees_s:.2f}",
                    f"{spot.calls:,}",
                ]
            )
    body = [
        f"The end-to-end chain replayed over {corpus.duration_s / 3600:.2f} h in 60 s frames "
        "under cProfile, one profiler per stage, active only inside that stage's calls. "
        f"For each stage (its CPU s under the profiler in brackets), the {TOP} functions with "
        "the most time of their own: share of the stage's profiled time, own seconds, "
        "seconds including what they call, calls. The profiler inflates Python-level "
        "calls against numpy and C code; the stage table above has the real CPU seconds.",
        "",
        *table(
            ["stage", "function", "share", "own s", "with callees s", "calls"],
            rows,
            "llrrrr",
        ),
    ]
    if small:
        body += [
            "",
            "- Under 2% of the profiled chain, not broken down: "
            + ", ".join(f"{s.name} ({s.cpu_s:.2f} s)" for s in small)
            + ".",
        ]
    return Section("Where each stage spends its time (profile)", Status.MEASURED, body)
