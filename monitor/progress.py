"""A dependency-free progress bar on stderr for long command-line work."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Draws `label [#####.....] 42%` on a terminal, and nothing when stderr is not one."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()
        self._last_draw = 0.0

    def update(self, fraction: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        filled = int(self.width * max(0.0, min(1.0, fraction)))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {100 * fraction:3.0f}%")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()
