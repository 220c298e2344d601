"""Live cost: the real daemon replaying a recording at real time, measured from outside.

`ecgmon daemon --replay RECORD --speed 1 --loop` runs in its own process (the virtual
strap through bleak when monitor.ble is installed, the full pipeline, the encrypted log
in a temporary folder, its socket there too). After a warm-up, its CPU time and memory
are read with psutil at the start and end of the measured window: CPU seconds per hour
of monitoring is what a patient's laptop pays. SIGTERM must then stop it cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchkit.machine import single_thread_env
from benchkit.report import Section, Status, table

WARMUP_MIN_S = 10.0
WARMUP_MAX_S = 180.0
SETTLED_SHARE = 0.10
"""Warm-up ends once a 5 s interval used under this share of a core (start-up work such
as imports, model loading and the virtual strap's preparation is over)."""


@dataclass(frozen=True)
class LiveResult:
    seconds: float
    warmup_s: float
    warmup_cpu_s: float
    cpu_s: float
    rss_mb: float
    peak_rss_mb: float
    fds: tuple[int, int]
    threads: tuple[int, int]
    exit_code: int | None
    log_bytes: int
    stdout: str

    @property
    def cpu_s_per_hour(self) -> float:
        return self.cpu_s * 3600.0 / self.seconds


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # KiB -> MB
    except OSError:
        pass
    return float("nan")


def measure_live(record: Path, seconds: float, log: Callable[[str], None]) -> LiveResult:
    """Run the daemon on `record` at real time for WARMUP_S + `seconds`; measure the window."""
    import psutil

    from monitor.store.keys import Identity
    from monitor.store.recipients import save_recipients

    with tempfile.TemporaryDirectory(prefix="ecgmon-live-") as tmp:
        root = Path(tmp)
        recipients = root / "recipients.json"
        save_recipients(recipients, [Identity.generate().recipient])
        env = single_thread_env(dict(os.environ))
        env.update(
            ECGMON_CONFIG=str(root / "config.toml"),
            ECGMON_CONFIG_DIR=str(root / "config"),
            XDG_RUNTIME_DIR=str(root / "run"),
        )
        (root / "run").mkdir(mode=0o700)
        cmd = [
            sys.executable, "-m", "monitor", "daemon",
            "--replay", str(record), "--speed", "1",
            "--socket", str(root / "run" / "ecgmon.sock"),
            "--log", str(root / "data" / "ecgmon-log.sqlite"),
            "--recipients-file", str(recipients),
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        ps = psutil.Process(proc.pid)
        started = time.monotonic()
        try:
            last = 0.0
            while True:
                time.sleep(5.0)
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"the daemon exited early: {proc.stdout.read() if proc.stdout else ''}"
                    )
                now = sum(ps.cpu_times()[:4])
                waited = time.monotonic() - started
                settled = now - last < SETTLED_SHARE * 5.0
                last = now
                if (waited >= WARMUP_MIN_S and settled) or waited >= WARMUP_MAX_S:
                    break
            t0, c0 = time.monotonic(), sum(ps.cpu_times()[:4])
            warmup_s, warmup_cpu = t0 - started, c0
            fds0, th0 = ps.num_fds(), ps.num_threads()
            log(f"  live: measuring {seconds:.0f} s ...")
            time.sleep(seconds)
            t1, c1 = time.monotonic(), sum(ps.cpu_times()[:4])
            rss = ps.memory_info().rss / 1e6
            fds1, th1 = ps.num_fds(), ps.num_threads()
            peak = _peak_rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code: int | None = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = None
        out = proc.stdout.read() if proc.stdout else ""
        log_bytes = sum(p.stat().st_size for p in (root / "data").rglob("*") if p.is_file())
    return LiveResult(
        t1 - t0,
        warmup_s,
        warmup_cpu,
        c1 - c0,
        rss,
        peak,
        (fds0, fds1),
        (th0, th1),
        code,
        log_bytes,
        out.strip(),
    )


def live_section(result: LiveResult, record: Path, facts: dict[str, str]) -> Section:
    per_hour = result.cpu_s_per_hour
    facts["live"] = f"{per_hour:.1f} CPU s per hour ({100 * per_hour / 3600:.2f}% of a core)"
    facts["live_goal_met"] = "met" if per_hour < 20.0 else "not met"
    clean = (
        "stopped cleanly (exit 0)"
        if result.exit_code == 0
        else (f"did NOT stop cleanly on SIGTERM (exit {result.exit_code})")
    )
    body = [
        f"`ecgmon daemon --replay {record} --speed 1` (its own process, one thread "
        "per numeric library), measured from outside with psutil over "
        f"{result.seconds:.0f} s, after a warm-up of {result.warmup_s:.0f} s that used "
        f"{result.warmup_cpu_s:.1f} CPU s (imports, model, the virtual strap's preparation; "
        f"it ends at the first 5 s under {100 * SETTLED_SHARE:.0f}% of a core). The virtual "
        "strap runs inside the daemon's process, so its work (encoding the PMD and heart-rate "
        "notifications) is counted too: a real strap would cost the daemon a little less.",
        "",
        *table(
            ["measure", "value"],
            [
                ["CPU s in the window (user + system, incl. children)", f"{result.cpu_s:.2f}"],
                ["CPU s per hour of monitoring", f"{per_hour:.1f}"],
                ["share of one core", f"{100 * per_hour / 3600:.2f}%"],
                ["resident memory at the end, MB", f"{result.rss_mb:.1f}"],
                ["peak resident memory (VmHWM), MB", f"{result.peak_rss_mb:.1f}"],
                ["open files, start -> end", f"{result.fds[0]} -> {result.fds[1]}"],
                ["threads, start -> end", f"{result.threads[0]} -> {result.threads[1]}"],
                ["encrypted log written, bytes", f"{result.log_bytes:,}"],
            ],
            "lr",
        ),
        "",
        f"- On SIGTERM the daemon {clean}.",
        f"- Its first line: `{result.stdout.splitlines()[0] if result.stdout else ''}`",
    ]
    return Section("Live cost (daemon at real time)", Status.MEASURED, body)
