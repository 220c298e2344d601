"""Stage-by-stage costs, so a regression points at its stage.

Each stage is measured only when its code is on this branch; otherwise its row says
which module is missing and which branch brings it. The probes import the real
modules, so a stage appears in the report the moment its branch is merged.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchkit.corpus import Corpus
from benchkit.e2e import E2E
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
STORE = Needs("monitor.store.writer", "LogWriter", "store")
STORE_BENCH = Needs("monitor.store.bench", "measure_store", "store")
PIPELINE = Needs("monitor.pipeline", "Pipeline", "daemon")
DAEMON = Needs("monitor.daemon.service", "Daemon", "daemon")


GLUE = {
    "pipeline": "pipeline glue (Pipeline around its stages)",
    "rhythm layer": "rhythm layer glue (RhythmStage around quality, VF, rhythm, alerts)",
}
LOOP = "replay loop (60 s frames gathered, log hand-off, stage timers)"
REST = "everything else (pipeline glue, frames, bookkeeping)"


def rest_rows(e2e: E2E) -> list[tuple[str, float]]:
    """What the end-to-end CPU time holds beyond the timed stages (medians).

    With the layers' own calls timed too (the pipeline, its rhythm layer), each
    layer's glue is its time minus everything timed inside it (stages and the layers
    below), and the rest is the worker's loop, the hand-off to the log sink and the
    stage timers; otherwise one row.
    """
    total = e2e.total_cpu.median
    rest = max(0.0, total - sum(v.median for v in e2e.stage_cpu.values()))
    if not e2e.layer_cpu:
        return [(REST, rest)]
    rows = []
    stages = {k: v.median for k, v in e2e.stage_cpu.items()}
    for name, stats in e2e.layer_cpu.items():
        inside = set(e2e.layer_stages.get(name, []))
        subs = [o for o in e2e.layer_cpu if o != name and set(e2e.layer_stages.get(o, [])) < inside]
        nested = {k for o in subs for k in e2e.layer_stages.get(o, [])}
        direct = sum(stages.get(k, 0.0) for k in inside - nested)
        glue = stats.median - direct - sum(e2e.layer_cpu[o].median for o in subs)
        rows.append((GLUE.get(name, f"{name} glue"), max(0.0, glue)))
    glue_total = min(rest, sum(g for _, g in rows))
    return [*rows, (LOOP, max(0.0, rest - glue_total))]


def stage_section(corpus: Corpus, qrs: QrsResults, e2e: E2E) -> Section:
    """Each stage's CPU time inside the end-to-end replay, and QRS on its own."""
    secs = corpus.duration_s
    total = e2e.total_cpu.median
    rows = []
    for name, stats in sorted(e2e.stage_cpu.items(), key=lambda kv: -kv[1].median):
        rows.append(
            [
                name,
                stats.fmt(3),
                fmt_speed(stats.inverse_scaled(secs)),
                stats.scaled(86_400.0 / secs).fmt(2),
                f"{100 * stats.median / max(total, 1e-12):.0f}%",
            ]
        )
    for name, rest in rest_rows(e2e):
        rows.append(
            [
                name,
                f"{rest:.3f}",
                "",
                f"{rest * 86_400.0 / secs:.2f}",
                f"{100 * rest / max(total, 1e-12):.0f}%",
            ]
        )
    solo: list[tuple[str, Timed]] = [
        ("QRS detector alone, 60 s chunks", qrs.ecgmon_60.timed),
        ("QRS detector alone, 1 s chunks", qrs.ecgmon_1.timed),
        ("ECG filter alone, 60 s chunks", qrs.filter_timed),
    ]
    for name, timed in solo:
        rows.append(
            [
                name,
                timed.cpu.fmt(3),
                fmt_speed(timed.cpu.inverse_scaled(secs)),
                timed.cpu.scaled(86_400.0 / secs).fmt(2),
                "",
            ]
        )
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
        f"CPU seconds of each stage inside the end-to-end replay (60 s frames) of "
        f"{secs / 3600:.2f} h, median (min-max) over the repeats, timed around each stage's "
        "calls; *read + decode* is timed in a separate pass over the stored notifications (the "
        "replay does the same work). "
        + (
            "A layer's *glue* is the CPU time of its own calls minus everything timed "
            "inside them; *replay loop* is the rest. "
            if e2e.layer_cpu
            else ""
        )
        + "The last "
        "rows are the QRS detector and filter on their own, from the side-by-side run.",
        "",
        *table(
            ["stage", "CPU s", "x real time", "CPU s per 24 h", "share of end to end"],
            rows,
            "lrrrr",
        ),
        "",
        *waiting,
    ]
    status = Status.PARTIAL if waiting else Status.MEASURED
    reason = "only the stages on this branch are measured" if waiting else ""
    return Section("Stage by stage", status, body, reason)
