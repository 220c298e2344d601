"""scripts/evaluate_beats.py --records scores any annotated WFDB database, not only
MIT-BIH DS2: a recording the project never saw is scored the same way. The record here
is the bundled synthetic fixture written as WFDB (no database data is involved)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

wfdb = pytest.importorskip("wfdb")

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "synthetic_130hz"


def write_wfdb_record(folder: Path) -> list[str]:
    """The fixture as a one-lead WFDB record with its true beats as `atr`; their labels."""
    with open(f"{FIXTURE}.csv") as f:
        samples_mv = np.array([float(row["ecg_uv"]) for row in csv.DictReader(f)]) / 1000.0
    with open(f"{FIXTURE}.truth.csv") as f:
        truth = [(int(row["sample"]), row["label"]) for row in csv.DictReader(f)]
    wfdb.wrsamp(
        "syn",
        fs=130,
        units=["mV"],
        sig_name=["MLII"],
        p_signal=samples_mv[:, None],
        fmt=["16"],
        adc_gain=[1000.0],
        baseline=[0],
        write_dir=str(folder),
    )
    wfdb.wrann(
        "syn",
        "atr",
        np.array([s for s, _ in truth]),
        symbol=[label for _, label in truth],
        write_dir=str(folder),
    )
    return [label for _, label in truth]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "evaluate_beats.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_another_database_is_scored_end_to_end(tmp_path: Path) -> None:
    truth = write_wfdb_record(tmp_path)
    json_out = tmp_path / "figures.json"
    done = run(
        "--data-dir", str(tmp_path), "--records", "syn", "--cache-dir", str(tmp_path / "cache"),
        "--json", str(json_out), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 records from" in done.stderr
    confusion = np.array(json.loads(json_out.read_text())["beat-student-int8"]["e2e"])
    # Rows are the reference classes N S V F Q: every true beat of the record was scored.
    assert confusion[:3].sum(axis=1).tolist() == [truth.count(c) for c in "NSV"]
    assert confusion[0, 0] >= 0.95 * truth.count("N")  # the fixture's normal beats: N


def test_a_missing_record_is_one_clear_error(tmp_path: Path) -> None:
    done = run("--data-dir", str(tmp_path), "--records", "nope", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: no records nope in {tmp_path}"
