"""Benchmark ecgmon end to end and stage by stage, side by side with its peers.

One command prints and writes docs/BENCHMARKS.md: the machine and the version of
everything, QRS detection of ecgmon and of NeuroKit2, sleepecg and Pan-Tompkins on the
same 24 h of MIT-BIH (accuracy and speed), each pipeline stage, and the end-to-end
replay in a fresh single-threaded process with its peak memory. Sections whose code
is not on this branch yet are skipped with the reason, so the script always runs.

    python scripts/bench.py                 # full run with the live daemon -> docs/BENCHMARKS.md
    python scripts/bench.py --profile       # ... and where each stage spends its time
    python scripts/bench.py --quick         # 2 h, one repeat, no live run, prints only
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchkit.corpus import Corpus
    from benchkit.machine import Machine
    from benchkit.report import Section

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()
GOAL_E2E_S = 5.0
GOAL_RSS_MB = 200.0
GOAL_LIVE_CPU_S_PER_H = 20.0
DAY_S = 24 * 3600.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding mitdb/ (default: ../shared/data beside the repo)",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 4 records (2 h), one repeat, print only"
    )
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3)")
    p.add_argument("--records", nargs="*", default=None, help="subset of MIT-BIH records")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report path (default docs/BENCHMARKS.md; --quick prints only)",
    )
    p.add_argument("--no-write", action="store_true", help="print the report only")
    live = p.add_mutually_exclusive_group()
    live.add_argument(
        "--live",
        action="store_true",
        help="measure the daemon replaying at real time (default in full runs, not with --quick)",
    )
    live.add_argument(
        "--no-live", action="store_true", help="skip the 5 minutes of the live daemon"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also replay the chain under cProfile: where each stage spends its time",
    )
    p.add_argument(
        "--live-seconds", type=float, default=300.0, help="measured window of --live (300)"
    )
    p.add_argument("--no-peers", action="store_true", help="skip the peer detectors")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--worker", choices=["e2e"], help=argparse.SUPPRESS)
    p.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["replay", "live"], default="replay", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def ensure_one_core(pin: bool) -> None:
    """Re-exec with every numeric library on one thread, pinned to one CPU."""
    from benchkit.machine import is_single_thread, single_thread_env

    if pin and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    if not is_single_thread(dict(os.environ)):
        env = single_thread_env(dict(os.environ))
        os.execve(sys.executable, [sys.executable, str(THIS), *sys.argv[1:]], env)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "e2e":
        from benchkit.e2e import worker

        return worker(args.index, args.mode)
    ensure_one_core(pin=not args.no_pin)
    return run(args)


def run(args: argparse.Namespace) -> int:
    from benchkit import machine
    from benchkit.corpus import QUICK_RECORDS, load_corpus, mitdb_dir
    from benchkit.report import skipped

    from monitor.evaluation import MITDB_RECORDS, default_data_dir

    started = time.time()
    data_dir = args.data_dir or default_data_dir()
    repeats = args.repeats or (1 if args.quick else 3)
    folder = mitdb_dir(data_dir)
    host = machine.describe()
    versions = machine.versions()
    sections: list[Section] = []
    facts: dict[str, str] = {}
    if folder is None:
        sections.append(
            skipped("All data sections", f"no MIT-BIH records under {data_dir} (give --data-dir)")
        )
    else:
        names = tuple(args.records or (QUICK_RECORDS if args.quick else MITDB_RECORDS))
        log(f"loading {len(names)} records from {folder} ...")
        corpus = load_corpus(folder, names)
        log(corpus.describe())
        sections += measure_all(corpus, repeats, args, facts)
    text = render(args, host, versions, sections, facts, repeats, time.time() - started)
    print(text)
    out = args.out or (None if args.quick or args.no_write else REPO / "docs" / "BENCHMARKS.md")
    if out is not None and not args.no_write:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        log(f"wrote {out}")
    return 0


def measure_all(
    corpus: Corpus, repeats: int, args: argparse.Namespace, facts: dict[str, str]
) -> list[Section]:
    from benchkit.e2e import e2e_section
    from benchkit.qrs import side_by_side
    from benchkit.report import skipped
    from benchkit.stages import CLASSIFY, DAEMON, STORE_BENCH, stage_section

    from monitor.evaluation import MITDB_RECORDS

    sections: list[Section] = []
    log("side-by-side QRS ...")
    qrs = side_by_side(corpus, repeats, log, peers=not args.no_peers)
    sections.append(qrs.section)
    why = CLASSIFY.missing()
    if why is not None:
        sections.append(skipped("Beat classification: int8 vs float32", why))
    else:
        from benchkit.classify import classify_section

        log("beat classification: int8 vs float32 ...")
        sections.append(classify_section(corpus, qrs.ecgmon_60.peaks, repeats, facts))
    log("end-to-end replay in child processes ...")
    e2e = e2e_section(corpus, repeats, THIS, facts)
    sections.append(stage_section(corpus, qrs, e2e))
    if args.profile:
        from benchkit.profile import profile_section

        log("profile of every stage ...")
        sections.append(profile_section(corpus, log))
    sections.append(e2e.section)

    why = DAEMON.missing()
    if why is not None:
        sections.append(skipped("Live cost (daemon at real time)", why))
    elif not want_live(args):
        sections.append(
            skipped(
                "Live cost (daemon at real time)",
                "takes 5 minutes, not part of this run; `python scripts/bench.py --live` "
                "(the default full run includes it)",
            )
        )
    else:
        from benchkit.live import live_section, measure_live

        log("live cost: the daemon at real time ...")
        record = corpus.source / "100"
        result = measure_live(record, args.live_seconds, log)
        sections.append(live_section(result, record, facts))
    why = STORE_BENCH.missing()
    if why is not None:
        sections.append(skipped("Log writes and storage", why))
    else:
        from benchkit.storage import storage_section

        log("log writes and storage ...")
        hours = None if len(corpus.records) == len(MITDB_RECORDS) else corpus.duration_s / 3600
        sections.append(storage_section(corpus.source, hours, repeats, facts))
    return sections


def want_live(args: argparse.Namespace) -> bool:
    """The live daemon runs in full runs unless --no-live; with --quick only if --live."""
    if args.no_live:
        return False
    return bool(args.live or not (args.quick or args.records))


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this report (the options that change what it holds)."""
    parts = ["python scripts/bench.py"]
    if args.quick:
        parts.append("--quick")
    if args.repeats:
        parts.append(f"--repeats {args.repeats}")
    if args.records:
        parts.append("--records " + " ".join(args.records))
    if args.live and (args.quick or args.records):
        parts.append("--live")
    if args.no_live:
        parts.append("--no-live")
    if args.live_seconds != 300.0:
        parts.append(f"--live-seconds {args.live_seconds:g}")
    if args.profile:
        parts.append("--profile")
    if args.no_peers:
        parts.append("--no-peers")
    return " ".join(parts)


def render(
    args: argparse.Namespace,
    host: Machine,
    versions: dict[str, str],
    sections: list[Section],
    facts: dict[str, str],
    repeats: int,
    elapsed: float,
) -> str:
    from benchkit.report import table

    cmd = command_line(args)
    goals = [
        [
            f"24 h end to end in < {GOAL_E2E_S:g} s CPU (> 17,280x real time)",
            f"{facts.get('e2e_day_cpu', 'n/a')} CPU, {facts.get('e2e_speed', 'n/a')}"
            + (
                ""
                if facts.get("e2e_full") == "yes"
                else " for the subset: " + facts.get("e2e_chain", "n/a")
            ),
            facts.get("e2e_goal_met", "n/a")
            + ("" if facts.get("e2e_full") == "yes" else " (subset only)"),
        ],
        [
            f"peak resident memory < {GOAL_RSS_MB:g} MB",
            facts.get("rss", "n/a"),
            facts.get("rss_goal_met", "n/a")
            + ("" if facts.get("e2e_full") == "yes" else " (subset only)"),
        ],
        [
            f"live: < {GOAL_LIVE_CPU_S_PER_H:g} CPU s per hour",
            facts.get("live", "not measured in this run (`python scripts/bench.py --live`)"),
            facts.get("live_goal_met", "-"),
        ],
        [
            "storage per 24 h (no goal set)",
            facts.get("storage", "not measured"),
            "waiting" if "storage" not in facts else "-",
        ],
        ["log writes (no goal set)", facts.get("log_mb_s", "not measured"), "-"],
    ]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{cmd}` (repeats: {repeats}, {elapsed:.0f} s); do not edit by hand.",
        "",
        "## Goals",
        "",
        *table(["goal", "measured", "status"], goals, "llr"),
        "",
        "## Machine and versions",
        "",
        *host.lines(),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
    ]
    for section in sections:
        lines += section.markdown()
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
