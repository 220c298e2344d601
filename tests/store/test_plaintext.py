"""Zero plaintext: a day of records leaves none of its distinctive bytes on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

from monitor.store import Identity, LogReader
from tests.store.day import day_payloads, distinctive_strings

ROOT = Path(__file__).resolve().parents[2]


def _leaks(folders: list[Path], needles: list[bytes]) -> list[str]:
    leaks = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                leaks += [f"{path.name}: {n[:16]!r}" for n in needles if n in content]
    return leaks


def test_a_day_of_records_leaves_no_plaintext(tmp_path: Path, patient: Identity) -> None:
    data, tmp = tmp_path / "store", tmp_path / "tmp"
    data.mkdir()
    tmp.mkdir()
    log = data / "log.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp), "SQLITE_TMPDIR": str(tmp)}
    child = subprocess.Popen([sys.executable, "-m", "tests.store.day", str(log),
                              patient.recipient.text], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "written"
    payloads = day_payloads()
    needles = distinctive_strings(payloads)
    assert len(needles) > 200
    files = {p.name for p in data.iterdir()}
    assert {"log.sqlite", "log.sqlite-wal"} <= files
    assert _leaks([data, tmp], needles) == []  # while the writer is open (WAL in use)
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "closed"
    assert child.wait(timeout=60) == 0
    assert _leaks([data, tmp], needles) == []
    # ...and the needles are real: the identity reads the day back.
    with LogReader(log) as reader:
        first = [r.payload for r in islice(reader.records(patient), len(payloads))]
    assert first[:100] == payloads[:100]
    assert len(first) == len(payloads)
