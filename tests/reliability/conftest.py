"""Reliability suite plumbing: a tally of what each test tried, for docs/RELIABILITY.md.

Every test here counts what it did (cases fuzzed, faults injected, records lost) with
the `tally` fixture. When ECGMON_RELIABILITY_TALLY names a file, the session writes
the counts and each test's outcome there; scripts/reliability_report.py runs the
suite that way and turns the file into docs/RELIABILITY.md, so the document's numbers
are exactly what the last run did. Soak tests run only with ECGMON_SOAK=1.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TALLY_ENV = "ECGMON_RELIABILITY_TALLY"
SOAK_ENV = "ECGMON_SOAK"


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings of every fuzz test here: a fixed number of cases, derandomised
    (the same cases on every run and in CI), no deadline (the machine is shared)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@dataclass
class TestTally:
    """What one test did. `lost` counts acknowledged records or in-order samples lost."""

    cases: int = 0
    faults: int = 0
    lost: int = 0
    notes: list[str] = field(default_factory=list)


_TALLIES: dict[str, TestTally] = defaultdict(TestTally)
_OUTCOMES: dict[str, dict[str, object]] = {}


class Tally:
    """Counters for the running test, kept across hypothesis examples."""

    def __init__(self, entry: TestTally) -> None:
        self._entry = entry

    def case(self, n: int = 1) -> None:
        self._entry.cases += n

    def fault(self, n: int = 1) -> None:
        self._entry.faults += n

    def lost(self, n: int) -> None:
        self._entry.lost += n

    def note(self, text: str) -> None:
        if text not in self._entry.notes:
            self._entry.notes.append(text)


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    return Tally(_TALLIES[request.node.nodeid])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SOAK_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"soak test: opt in with {SOAK_ENV}=1")
    for item in items:
        if "soak" in item.keywords and "reliability" in item.nodeid:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability/" not in report.nodeid.replace("\\", "/"):
        return
    entry = _OUTCOMES.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry["seconds"] = float(entry["seconds"]) + report.duration  # type: ignore[arg-type]
    if hasattr(report, "wasxfail") and report.skipped:
        entry["outcome"] = "known gap"
        entry["reason"] = str(report.wasxfail).removeprefix("reason: ")
    elif report.skipped:
        entry["outcome"] = "skipped"
        if isinstance(report.longrepr, tuple):
            entry["reason"] = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif report.failed:
        entry["outcome"] = "failed"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A whole module skipped (its part of ecgmon is not installed yet) is a result too."""
    nodeid = report.nodeid.replace("\\", "/")
    if "tests/reliability/" not in nodeid or not report.skipped:
        return
    reason = ""
    if isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    _OUTCOMES[f"{nodeid}::(whole module)"] = {
        "outcome": "skipped",
        "seconds": 0.0,
        "reason": reason,
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(TALLY_ENV)
    if not target:
        return
    tests = {}
    for nodeid, outcome in _OUTCOMES.items():
        t = _TALLIES.get(nodeid, TestTally())
        doc, module_doc = _docstrings(session, nodeid)
        tests[nodeid] = {
            **outcome,
            "cases": t.cases,
            "faults": t.faults,
            "lost": t.lost,
            "notes": t.notes,
            "doc": doc,
            "module_doc": module_doc,
        }
    Path(target).write_text(json.dumps({"finished": time.time(), "tests": tests}, indent=1))


def _first_paragraph(obj: object) -> str:
    text = (getattr(obj, "__doc__", None) or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def _docstrings(session: pytest.Session, nodeid: str) -> tuple[str, str]:
    """The test's and its module's first docstring paragraph, for the report."""
    for item in session.items:
        if item.nodeid == nodeid:
            return (
                _first_paragraph(getattr(item, "function", None)),
                _first_paragraph(getattr(item, "module", None)).split(":")[0],
            )
    return "", ""
