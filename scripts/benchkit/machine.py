"""What the benchmark ran on: CPU, cores, memory, and the version of everything measured.

A speed figure without its machine and library versions cannot be compared with the
next run, so every report starts with these.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
"""Every knob that lets numpy/scipy/onnxruntime's helpers spawn extra threads."""

PACKAGES = (
    "ecgmon",
    "numpy",
    "scipy",
    "onnxruntime",
    "wfdb",
    "cryptography",
    "bleak",
    "textual",
    "neurokit2",
    "sleepecg",
    "py-ecg-detectors",
    "pandas",
    "psutil",
)


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    cores: int
    memory_gb: float
    os: str
    python: str
    affinity: tuple[int, ...]
    load_avg: tuple[float, float, float]

    def lines(self) -> list[str]:
        affinity = ",".join(str(c) for c in self.affinity)
        load = ", ".join(f"{v:.2f}" for v in self.load_avg)
        return [
            f"- CPU: {self.cpu_model}, {self.cores} logical cores "
            f"(this run pinned to CPU {affinity}, one thread)",
            f"- Memory: {self.memory_gb:.1f} GB",
            f"- OS: {self.os}; Python {self.python}",
            f"- Load average at start (1/5/15 min): {load} (the machine is shared; "
            "CPU time is reported, which other processes disturb less than wall time)",
        ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def describe() -> Machine:
    affinity = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()
    return Machine(
        cpu_model=cpu_model(),
        cores=os.cpu_count() or 1,
        memory_gb=memory_gb(),
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=platform.python_version(),
        affinity=affinity,
        load_avg=os.getloadavg(),
    )


def versions() -> dict[str, str]:
    """Installed version of each package the benchmark touches ('absent' if not installed)."""
    found: dict[str, str] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def single_thread_env(env: dict[str, str]) -> dict[str, str]:
    """A copy of `env` that keeps every numeric library to one thread."""
    out = dict(env)
    for var in THREAD_VARS:
        out[var] = "1"
    return out


def is_single_thread(env: dict[str, str]) -> bool:
    return all(env.get(var) == "1" for var in THREAD_VARS)
