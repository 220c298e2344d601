"""A small synthetic ECG for the daemon and TUI tests (made here, not copied from a database).

P, QRS and T waves as Gaussians at a steady 75 bpm with one premature beat every
ten, plus a little seeded noise: enough for the QRS detector to find every beat,
deterministic, and independent of the PhysioNet data that CI may lack.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FS = 130.0


def synthetic_ecg(
    duration_s: float = 60.0, bpm: float = 75.0, seed: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """(samples in uV at 130 Hz, R-peak sample indices)."""
    n = int(duration_s * FS)
    t = np.arange(n) / FS
    rr = 60.0 / bpm
    beats: list[float] = []
    at = 0.8
    k = 0
    while at < duration_s - 0.5:
        beats.append(at)
        k += 1
        at += rr * (0.7 if k % 10 == 9 else 1.0) + (rr * 0.3 if k % 10 == 0 else 0.0)
    x = np.zeros(n)
    for r in beats:
        for offset, width, amp in (
            (-0.16, 0.025, 120.0),
            (-0.02, 0.01, -100.0),
            (0.0, 0.012, 1100.0),
            (0.025, 0.01, -250.0),
            (0.25, 0.045, 280.0),
        ):
            x += amp * np.exp(-0.5 * ((t - r - offset) / width) ** 2)
    rng = np.random.default_rng(seed)
    x += 15.0 * rng.standard_normal(n) + 80.0 * np.sin(2 * np.pi * 0.25 * t)
    return x, np.round(np.asarray(beats) * FS).astype(np.int64)


def write_csv(path: Path, duration_s: float = 60.0) -> Path:
    x, _ = synthetic_ecg(duration_s)
    np.savetxt(path, x, fmt="%.1f", header="ecg_uv", comments="")
    return path
