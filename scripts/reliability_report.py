"""Run the reliability suite and write what was tried and what held to docs/RELIABILITY.md.

The suite (tests/reliability/) counts, test by test, the cases it fuzzed, the faults
it injected and the records or samples lost; this script runs it with those counts
switched on and turns them into the document, so every number in it comes from the
run that wrote it.

    python scripts/reliability_report.py            # the normal suite (a few minutes)
    python scripts/reliability_report.py --soak     # plus the opt-in soak tests
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUITE = "tests/reliability"


def run_suite(soak: bool, extra: list[str]) -> tuple[dict[str, Any], int, float, str]:
    """Run pytest on the suite; return the tally, pytest's exit code, seconds, summary line."""
    with tempfile.TemporaryDirectory(prefix="ecgmon-reliability-") as tmp:
        tally = Path(tmp) / "tally.json"
        env = dict(os.environ, ECGMON_RELIABILITY_TALLY=str(tally))
        if soak:
            env["ECGMON_SOAK"] = "1"
        cmd = [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        sys.stderr.write(proc.stdout[-4000:])
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        summary = lines[-1].strip("= ") if lines else "no output"
        if not tally.is_file():
            raise SystemExit(f"the suite wrote no tally (pytest exit {proc.returncode})")
        return json.loads(tally.read_text()), proc.returncode, seconds, summary


FIXED = re.compile(r"[Rr]egression for finding (\w+)(?: \(([^)]*)\))?")
"""How a test says it guards a finding that was fixed (in its docstring's first paragraph)."""
OPEN = re.compile(r"finding (\w+): (.*)", re.S)
"""How a known gap (strict xfail) names its finding, in the xfail reason."""


def findings(tests: dict[str, dict[str, Any]]) -> list[str]:
    """A table of every finding the suite names: open (a known gap), fixed (its regression
    tests all pass) or broken again (one of them does not)."""
    rows: dict[str, dict[str, Any]] = {}
    for nodeid, t in sorted(tests.items()):
        name = nodeid.split("::", 1)[-1].split("[")[0]
        gap = OPEN.match(str(t.get("reason", ""))) if t["outcome"] == "known gap" else None
        fixed = FIXED.search(str(t.get("doc", "")))
        if gap is not None:
            row = rows.setdefault(gap.group(1), {"what": gap.group(2), "tests": {}, "open": True})
            row["open"] = True
            row["what"] = gap.group(2)
        elif fixed is not None:
            row = rows.setdefault(fixed.group(1), {"what": fixed.group(2) or "", "tests": {}})
        else:
            continue
        row["tests"].setdefault(name, []).append(t["outcome"])
    lines: list[str] = []

    def natural(key: str) -> tuple[str, int, str]:  # B1, B2, R2, R2b, R3
        m = re.match(r"(\D*)(\d*)(.*)", key)
        assert m is not None
        return m.group(1), int(m.group(2) or 0), m.group(3)

    for key in sorted(rows, key=natural):
        row = rows[key]
        outcomes = [o for runs in row["tests"].values() for o in runs]
        if row.get("open"):
            status = "open (known gap)"
        elif all(o == "passed" for o in outcomes):
            status = "fixed"
        elif all(o in ("passed", "skipped") for o in outcomes):
            status = "fixed (some of its tests skipped here)"
        else:
            status = "BROKEN AGAIN"
        tests_text = ", ".join(
            f"`{name}`" + (f" ({len(runs)} cases)" if len(runs) > 1 else "")
            for name, runs in row["tests"].items()
        )
        lines.append(f"| {key} | {status} | {row['what']} | {tests_text} |")
    if not lines:
        return []
    return [
        "## Findings",
        "",
        "Every finding the suite has made, from the tests that guard it: a fixed one keeps a "
        "regression test (its docstring says `Regression for finding ...`), an open one is a "
        "known gap.",
        "",
        "| finding | status | what | tests |",
        "| --- | --- | --- | --- |",
        *lines,
        "",
    ]


def area_of(nodeid: str) -> str:
    stem = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    return stem.replace("_", " ")


def test_name(nodeid: str) -> str:
    return nodeid.split("::", 1)[1].removeprefix("test_").replace("_", " ")


def render(data: dict[str, Any], code: int, seconds: float, summary: str, soak: bool) -> str:
    tests: dict[str, dict[str, Any]] = data["tests"]
    by_area: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for nodeid, t in sorted(tests.items()):
        by_area[str(t.get("module_doc") or area_of(nodeid))].append((nodeid, t))
    outcomes: dict[str, int] = defaultdict(int)
    for t in tests.values():
        outcomes[str(t["outcome"])] += 1
    held = [t for t in tests.values() if t["outcome"] == "passed"]
    cases = sum(int(t["cases"]) for t in held)
    faults = sum(int(t["faults"]) for t in held)
    lost = sum(int(t["lost"]) for t in held)
    cmd = "python scripts/reliability_report.py" + (" --soak" if soak else "")
    lines = [
        "# Reliability",
        "",
        f"Produced by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}); "
        "do not edit by hand. It runs `python -m pytest tests/reliability` (the same tests CI "
        f"runs) and counts what each test tried. Run took {seconds:.0f} s; pytest: "
        f"`{summary}` (exit {code}).",
        "",
        "## Totals",
        "",
        f"- Tests: {', '.join(f'{n} {k}' for k, n in sorted(outcomes.items()))}.",
        f"- In the tests that held: **{cases:,} cases fuzzed or tried, {faults:,} faults "
        f"injected, {lost:,} records or in-order samples lost**.",
        "- A *known gap* is a test of a promise the code does not keep yet: it is marked "
        "`xfail(strict=True)`, so it fails the suite the day the gap is closed and the mark "
        "must go. Its counts are not in the totals above.",
        "",
    ]
    lines += findings(tests)
    gaps = [(n, t) for n, t in sorted(tests.items()) if t["outcome"] == "known gap"]
    if gaps:
        lines += ["## Known gaps found by the suite", ""]
        seen: set[str] = set()
        for nodeid, t in gaps:
            reason = str(t.get("reason", ""))
            if reason in seen:
                continue
            seen.add(reason)
            lines.append(f"- {reason} (`{nodeid}`)")
        lines.append("")
    for area, rows in by_area.items():
        lines += [
            f"## {area}",
            "",
            "| test | outcome | cases | faults | lost | what it checks |",
            "| --- | --- | ---: | ---: | ---: | --- |",
        ]
        for nodeid, t in rows:
            what = str(t.get("doc", ""))
            if t["outcome"] == "skipped":
                what = f"skipped: {t.get('reason', '')}"
            lines.append(
                f"| {test_name(nodeid)} | {t['outcome']} | {t['cases']:,} | {t['faults']:,} "
                f"| {t['lost']:,} | {what} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="include the soak tests")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "RELIABILITY.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    data, code, seconds, summary = run_suite(args.soak, args.pytest_args)
    text = render(data, code, seconds, summary, args.soak)
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
