"""Repeated measurements reduced to min / median / max.

CPU time (`time.process_time`, all threads of this process) is the headline: on a
shared machine other people's jobs stretch wall time far more than CPU time. Wall
time is kept alongside so a reader can see how contended the run was.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Stats:
    """min / median / max of repeated measurements."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def fmt(self, digits: int = 3, unit: str = "") -> str:
        """'median (min-max)' with the same number of decimals everywhere."""
        if len(self.values) == 1:
            return f"{self.values[0]:.{digits}f}{unit}"
        return f"{self.median:.{digits}f}{unit} ({self.min:.{digits}f}-{self.max:.{digits}f})"

    def fmt_count(self) -> str:
        """Whole numbers with thousands separators: 'median (min-max)'."""
        if len(self.values) == 1:
            return f"{self.values[0]:,.0f}"
        return f"{self.median:,.0f} ({self.min:,.0f}-{self.max:,.0f})"

    def scaled(self, factor: float) -> Stats:
        return Stats(tuple(v * factor for v in self.values))

    def inverse_scaled(self, numerator: float) -> Stats:
        """numerator / value for each value (e.g. x real time from seconds)."""
        return Stats(tuple(numerator / max(v, 1e-12) for v in self.values))


@dataclass(frozen=True)
class Timed:
    cpu: Stats
    wall: Stats


def measure(fn: Callable[[], T], repeats: int) -> tuple[Timed, T]:
    """Run `fn` `repeats` times; CPU and wall seconds of each run, and the last result."""
    cpu: list[float] = []
    wall: list[float] = []
    results: list[T] = []
    for _ in range(max(1, repeats)):
        c0, w0 = time.process_time(), time.perf_counter()
        results.append(fn())
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return Timed(Stats(tuple(cpu)), Stats(tuple(wall))), results[-1]


def fmt_speed(stats: Stats) -> str:
    """x real time: median with range, as integers with thousands separators."""
    if len(stats.values) == 1:
        return f"{stats.values[0]:,.0f}x"
    return f"{stats.median:,.0f}x ({stats.min:,.0f}-{stats.max:,.0f})"
