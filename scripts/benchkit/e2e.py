"""End-to-end replay of the 24 h in a fresh process, for honest CPU time and peak memory.

The parent writes the day as a strap would deliver it: the 48 records back to back as
one continuous stream, cut into notifications of 73 samples (a Polar H10 at 130 Hz),
each encoded as a real PMD ECG frame when `monitor.ble` is installed (else as raw
int32 samples, and the report says so). A child process (`bench.py --worker e2e`)
builds the fullest chain this installation has (`benchkit.chain`), notes its resident
memory, then decodes and replays every frame and reports CPU seconds, peak memory and
the bytes the encrypted log took, as one JSON line.

Two ways of feeding the pipeline are measured:
- replay: decoded frames gathered into 60 s `EcgFrame`s (how a recording is replayed);
- live: every 73-sample notification is its own `EcgFrame` (what the daemon does).

The day is read from disk frame by frame, never held in memory, so peak memory is what
the monitor needs, not what the benchmark needs to hold 24 h of samples.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchkit.chain import Chain, build_chain, frame_of, has
from benchkit.corpus import WORKING_FS, Corpus
from benchkit.machine import single_thread_env
from benchkit.report import Section, Status, table
from benchkit.timing import Stats, fmt_speed

FRAME_SAMPLES = 73
"""Samples per H10 PMD notification at 130 Hz (ATT MTU 232)."""
REPLAY_S = 60.0
T0_NS = 1_764_057_600_000_000_000
"""Host time of the first sample (2025-11-25 08:00 UTC): any fixed value will do."""
POLAR_EPOCH_NS = 946_684_800_000_000_000
"""2000-01-01 in Unix ns: the H10's clock origin."""
_LEN = struct.Struct("<H")


def pmd_available() -> bool:
    return has("monitor.ble.pmd", "decode_ecg_frame") and has("monitor.ble.pmd", "encode_ecg_frame")


def write_day(corpus: Corpus, folder: Path) -> Path:
    """The day as length-prefixed notifications (PMD bytes if possible); the index path."""
    use_pmd = pmd_available()
    encode = None
    if use_pmd:
        from monitor.ble.pmd import encode_ecg_frame

        encode = encode_ecg_frame
    day = np.concatenate([np.round(r.samples) for r in corpus.records]).astype(np.int64)
    day = np.clip(day, -(2**23), 2**23 - 1)
    data = folder / "day.frames"
    period_ns = 1e9 / WORKING_FS
    n_frames = 0
    with data.open("wb") as out:
        for i in range(0, day.size, FRAME_SAMPLES):
            chunk = day[i : i + FRAME_SAMPLES]
            if encode is not None:
                last_ns = T0_NS - POLAR_EPOCH_NS + round((i + chunk.size - 1) * period_ns)
                payload = encode(last_ns, chunk)
            else:
                payload = chunk.astype("<i4").tobytes()
            out.write(_LEN.pack(len(payload)))
            out.write(payload)
            n_frames += 1
    index = folder / "day.json"
    index.write_text(
        json.dumps(
            {
                "fs": WORKING_FS,
                "data": data.name,
                "frames": n_frames,
                "samples": int(day.size),
                "pmd": use_pmd,
            }
        )
    )
    return index


@dataclass(frozen=True)
class ChildResult:
    mode: str
    chain: list[str]
    missing: list[str]
    cpu_s: float
    wall_s: float
    rss_after_imports_mb: float
    peak_rss_mb: float
    beats: int
    samples: int
    frames: int
    log_bytes: int
    counters: dict[str, int] = field(default_factory=dict)
    stage_cpu: dict[str, float] = field(default_factory=dict)
    layer_cpu: dict[str, float] = field(default_factory=dict)  # see chain.pipeline_layers
    layer_stages: dict[str, list[str]] = field(default_factory=dict)  # stage names inside each


def run_child(index: Path, script: Path, mode: str) -> ChildResult:
    """Run `script --worker e2e` single-threaded; parse its JSON line."""
    proc = subprocess.run(
        [sys.executable, str(script), "--worker", "e2e", "--index", str(index), "--mode", mode],
        env=single_thread_env(dict(os.environ)),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"e2e worker failed ({proc.returncode}): {proc.stderr.strip()[-3000:]}")
    return ChildResult(**json.loads(proc.stdout.strip().splitlines()[-1]))


def peak_rss_mb() -> float:
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
                return int(line.split()[1]) * 1024 / 1e6  # kB (KiB) -> MB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux -> MB


def _frames(data: Path, pmd: bool, fs: float) -> Iterator[tuple[int, np.ndarray]]:
    """(host t0_ns, int32 samples) of every stored notification, decoded as the daemon does."""
    decode = None
    if pmd:
        from monitor.ble.pmd import decode_ecg_frame

        decode = decode_ecg_frame
    period_ns = 1e9 / fs
    epoch_ns = POLAR_EPOCH_NS
    for payload in _notifications(data):
        if decode is not None:
            frame = decode(payload)
            values = frame.samples_uv
            yield frame.sensor_ns + epoch_ns - round((values.size - 1) * period_ns), values
        else:
            yield 0, np.frombuffer(payload, dtype="<i4")  # t0 set by the caller


READ_CHUNK = 1 << 20
"""Bytes read from the day file at a time: one read per ~4,500 notifications instead of
two per notification (a buffer of 1 MB, not the day)."""


def _notifications(data: Path) -> Iterator[bytes]:
    """Each stored notification's bytes, in order (the file: length-prefixed payloads)."""
    unpack = _LEN.unpack_from
    head = _LEN.size
    with data.open("rb", buffering=0) as src:
        buf, pos, size = b"", 0, 0
        while True:
            start = pos + head
            if start <= size:
                end = start + unpack(buf, pos)[0]
                if end <= size:
                    yield buf[start:end]
                    pos = end
                    continue
            more = src.read(READ_CHUNK)
            if not more:
                if pos < size:
                    raise ValueError(f"{data}: truncated notification at the end")
                return
            buf, pos = buf[pos:] + more, 0
            size = len(buf)


def _feed_live(
    chain: Chain, stream: Iterator[tuple[int, np.ndarray]], fs: float, _: int
) -> tuple[int, int, int]:
    """Every notification is its own frame (the daemon); (beats, samples, frames)."""
    beats = samples = frames = 0
    for t0, values in stream:
        frame = frame_of(values, t0 or T0_NS + round(samples * 1e9 / fs), fs)
        frames += 1
        samples += values.size
        beats += chain.feed(frame)
    return beats, samples, frames


def _feed_replay(
    chain: Chain, stream: Iterator[tuple[int, np.ndarray]], fs: float, replay_n: int
) -> tuple[int, int, int]:
    """Notifications gathered into frames of replay_n samples or a little more (a
    recording's replay); (beats, samples, frames). The loop body runs once per
    notification, so it only appends and counts: the frame's start time is taken from
    its first notification, and a frame is full when the running sample count passes
    the next boundary."""
    beats = samples = frames = 0
    pending: list[np.ndarray] = []
    pending_t0 = 0
    boundary = replay_n
    for t0, values in stream:
        if not pending:
            pending_t0 = t0 or T0_NS + round(samples * 1e9 / fs)
        pending.append(values)
        frames += 1
        samples += values.size
        if samples >= boundary:
            beats += chain.feed(frame_of(np.concatenate(pending), pending_t0, fs))
            pending = []
            boundary = samples + replay_n
    if pending:
        beats += chain.feed(frame_of(np.concatenate(pending), pending_t0, fs))
    return beats, samples, frames


def worker(index_path: Path, mode: str) -> int:
    """Child side: build the chain, replay every frame, print one JSON line."""
    index = json.loads(index_path.read_text())
    fs = float(index["fs"])
    data = index_path.parent / index["data"]
    replay_n = round(REPLAY_S * fs)
    with tempfile.TemporaryDirectory(prefix="ecgmon-bench-log-") as tmp:
        chain = build_chain(fs, Path(tmp), timed=mode == "replay")
        rss_imports = peak_rss_mb()
        c0, w0 = time.process_time(), time.perf_counter()
        stream = _frames(data, bool(index["pmd"]), fs)
        feed = _feed_live if mode == "live" else _feed_replay
        beats, samples, frames = feed(chain, stream, fs, replay_n)
        beats += chain.finish()
        chain.close()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        stage_cpu = dict(chain.stage_cpu)
        if mode == "replay":  # reading + decoding alone, as a separate pass
            d0 = time.process_time()
            for _ in _frames(data, bool(index["pmd"]), fs):
                pass
            stage_cpu["read + decode"] = time.process_time() - d0
        log_bytes = 0
        if chain.log_dir is not None:
            log_bytes = sum(p.stat().st_size for p in chain.log_dir.rglob("*") if p.is_file())
        labels = (["PMD decode"] if index["pmd"] else ["raw int32 read"]) + chain.labels
        missing = list(chain.missing)
        if not index["pmd"]:
            missing.insert(0, "PMD decode: monitor.ble not installed (ble branch)")
        result = ChildResult(
            mode=mode,
            chain=labels,
            missing=missing,
            cpu_s=cpu,
            wall_s=wall,
            rss_after_imports_mb=rss_imports,
            peak_rss_mb=peak_rss_mb(),
            beats=beats,
            samples=samples,
            frames=frames,
            log_bytes=log_bytes,
            counters=dict(chain.counters),
            stage_cpu=stage_cpu,
            layer_cpu=dict(chain.layer_cpu),
            layer_stages=dict(chain.layer_stages),
        )
    print(json.dumps(asdict(result)))
    return 0


DAY_S = 86_400.0


@dataclass
class E2E:
    section: Section
    stage_cpu: dict[str, Stats]
    total_cpu: Stats
    missing: list[str]
    layer_cpu: dict[str, Stats] = field(default_factory=dict)  # inside each layer's calls
    layer_stages: dict[str, list[str]] = field(default_factory=dict)  # stage names inside


def e2e_section(corpus: Corpus, repeats: int, script: Path, facts: dict[str, str]) -> E2E:
    """Replay and live feeding of the day in fresh processes, with the goals' figures."""
    with tempfile.TemporaryDirectory(prefix="ecgmon-bench-") as tmp:
        index = write_day(corpus, Path(tmp))
        # Live feeding costs ~10x the replay: one run unless there are 6+ repeats.
        live_repeats = max(1, repeats // 3)
        runs = {
            "replay": [run_child(index, script, "replay") for _ in range(repeats)],
            "live": [run_child(index, script, "live") for _ in range(live_repeats)],
        }
    first = runs["replay"][0]
    full = not first.missing
    rows = []
    for mode, results in runs.items():
        cpu = Stats(tuple(r.cpu_s for r in results))
        rows.append(
            [
                f"{mode} ({'60 s frames' if mode == 'replay' else '73-sample frames'})",
                cpu.fmt(2),
                Stats(tuple(r.wall_s for r in results)).fmt(2),
                fmt_speed(cpu.inverse_scaled(corpus.duration_s)),
                cpu.scaled(3600.0 / corpus.duration_s).fmt(2),
                Stats(tuple(r.peak_rss_mb for r in results)).fmt(1),
                Stats(tuple(r.rss_after_imports_mb for r in results)).fmt(1),
            ]
        )
    replay_cpu = Stats(tuple(r.cpu_s for r in runs["replay"]))
    live_cpu = Stats(tuple(r.cpu_s for r in runs["live"]))
    rss = Stats(tuple(r.peak_rss_mb for rs in runs.values() for r in rs))
    day_cpu = replay_cpu.scaled(DAY_S / corpus.duration_s)
    facts["e2e_chain"] = " -> ".join(first.chain)
    facts["e2e_full"] = "yes" if full else "no"
    facts["e2e_day_cpu"] = day_cpu.fmt(2, " s")
    facts["e2e_speed"] = fmt_speed(replay_cpu.inverse_scaled(corpus.duration_s))
    facts["e2e_goal_met"] = "met" if day_cpu.median < 5.0 else "not met"
    facts["rss"] = f"{rss.max:.0f} MB (largest of all runs)"
    facts["rss_goal_met"] = "met" if rss.max < 200.0 else "not met"
    facts["live_frames_cpu_per_h"] = live_cpu.scaled(3600.0 / corpus.duration_s).fmt(2, " s")
    if first.log_bytes:
        per_day = first.log_bytes * DAY_S / corpus.duration_s
        facts["storage"] = f"{per_day / 1e6:.1f} MB per 24 h (encrypted log of the replay)"
    counts = ", ".join(f"{k} {v:,}" for k, v in first.counters.items())
    body = [
        f"Chain: **{' -> '.join(first.chain)}**.",
        "",
        f"Input: {corpus.describe()}, back to back as one continuous stream of "
        f"{first.frames:,} notifications of {FRAME_SAMPLES} samples"
        + (
            " (real PMD ECG frames, decoded by `monitor.ble.pmd`)"
            if "PMD" in first.chain[0]
            else ""
        )
        + ". Each run is a fresh process with every numeric library on one thread, "
        "pinned to one CPU; the day is read from disk frame by frame. Live feeding runs "
        f"{len(runs['live'])} time(s), the replay {len(runs['replay'])} times.",
        "",
        *table(
            [
                "feeding",
                "CPU s",
                "wall s",
                "x real time (CPU)",
                "CPU s per hour of ECG",
                "peak RSS MB",
                "RSS before replay MB",
            ],
            rows,
        ),
        "",
        f"- Found {first.beats:,} beats; {counts or 'no rhythm stage counters'}.",
        "- Peak RSS is VmHWM of the child (its own address space). `ru_maxrss` is not used: "
        "Linux carries the parent's peak into a vfork+exec child's `ru_maxrss`.",
        "- *RSS before replay* is after importing and building every stage of the chain "
        "(numpy, scipy and, when present, onnxruntime with the model): most of the peak is "
        "the libraries, not the stream. MB = 10^6 bytes.",
    ]
    if first.log_bytes:
        body.append(
            f"- The encrypted log of this replay took {first.log_bytes / 1e6:.2f} MB on disk "
            f"({first.log_bytes * DAY_S / corpus.duration_s / 1e6:.2f} MB per 24 h)."
        )
    body += [f"- Not in this chain: {m}" for m in first.missing]
    status = Status.MEASURED if full else Status.PARTIAL
    reason = "" if full else "parts of the chain are not on this branch yet (listed below)"
    stage_cpu = {
        name: Stats(tuple(r.stage_cpu.get(name, 0.0) for r in runs["replay"]))
        for name in first.stage_cpu
    }
    layer_cpu = {
        name: Stats(tuple(r.layer_cpu.get(name, 0.0) for r in runs["replay"]))
        for name in first.layer_cpu
    }
    return E2E(
        Section("End-to-end replay", status, body, reason),
        stage_cpu,
        replay_cpu,
        first.missing,
        layer_cpu,
        dict(first.layer_stages),
    )
