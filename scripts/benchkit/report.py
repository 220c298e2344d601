"""A section of the report: measured, partly measured, or skipped with its reason.

Every section returns one of these, so the script always runs to the end and the
report says plainly which stages are not there yet and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Status(Enum):
    MEASURED = "measured"
    PARTIAL = "partial"
    SKIPPED = "skipped"


@dataclass
class Section:
    title: str
    status: Status
    body: list[str] = field(default_factory=list)
    reason: str = ""

    def markdown(self) -> list[str]:
        lines = [f"## {self.title}", ""]
        if self.status is Status.SKIPPED:
            lines += [f"*Skipped: {self.reason}*", ""]
            return lines
        if self.status is Status.PARTIAL and self.reason:
            lines += [f"*Partial: {self.reason}*", ""]
        return [*lines, *self.body, ""]


def skipped(title: str, reason: str) -> Section:
    return Section(title, Status.SKIPPED, reason=reason)


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    """A markdown table; `align` is one char per column, 'l' or 'r' (default: first l)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out
