"""Stage-by-stage costs, so a regression points at its stage.

Each stage is measured only when its code is on this branch; otherwise its row says
which module is missing and which branch brings it. The probes import the real
modules, so a stage appears in the report the moment its branch is merged.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchkit.corpus import Corpus
from benchkit.qrs import QrsResults
from benchkit.report import Section, Status, table
from benchkit.timing import Timed, fmt_speed


@dataclass(frozen=True)
class Needs:
    """A module (and attribute) a stage needs, and the branch that brings it."""

    module: str
    attr: str
    branch: str

    def missing(self) -> str | None:
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            return f"`{self.module}` is not on this branch yet (`{self.branch}` branch)"
        if not hasattr(mod, self.attr):
            return f"`{self.module}.{self.attr}` is not there yet (`{self.branch}` branch)"
        return None


BLE = Needs("monitor.ble.pmd", "decode_ecg_frame", "ble")
CLASSIFY = Needs("monitor.classify.model", "BeatModel", "classify")
RHYTHM = Needs("monitor.classify.rhythm", "RhythmAnalyzer", "rhythm")
STORE = Needs("monitor.store.log", "LogWriter", "store")
PIPELINE = Needs("monitor.pipeline", "Pipeline", "daemon")
DAEMON = Needs("monitor.daemon.service", "DaemonService", "daemon")


def _row(name: str, what: str, timed: Timed, seconds: float) -> list[str]:
    return [name, what, timed.cpu.fmt(3), fmt_speed(timed.cpu.inverse_scaled(seconds))]


def stage_section(corpus: Corpus, qrs: QrsResults) -> Section:
    secs = corpus.duration_s
    rows = [
        _row(
            "ECG filter", "0.5-40 Hz Butterworth, streamed in 60 s chunks", qrs.filter_timed, secs
        ),
        _row(
            "QRS detector",
            "streamed in 60 s chunks (own 5-18 Hz band-pass)",
            qrs.ecgmon_60.timed,
            secs,
        ),
        _row("QRS detector", "streamed in 1 s chunks", qrs.ecgmon_1.timed, secs),
    ]
    waiting = []
    for name, needs in (
        ("PMD decode", BLE),
        ("beat classification (int8 vs float32)", CLASSIFY),
        ("rhythm analysis", RHYTHM),
        ("encrypted log writes", STORE),
    ):
        why = needs.missing()
        if why is not None:
            waiting.append(f"- {name}: waiting, {why}.")
    body = [
        f"CPU seconds for all {secs / 3600:.2f} h on one thread, median (min-max) over the "
        "repeats, and the speed that gives.",
        "",
        *table(["stage", "how", "CPU s", "x real time"], rows, "llrr"),
        "",
        *waiting,
    ]
    status = Status.PARTIAL if waiting else Status.MEASURED
    reason = "only the stages on this branch are measured" if waiting else ""
    return Section("Stage by stage", status, body, reason)
