"""The bundled synthetic recording is what scripts/make_fixtures.py makes, and holds what
fixtures/README.md says it holds (premature beats, pauses, an irregular stretch)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
FS = 130.0


def make_fixtures_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_fixtures", REPO / "scripts" / "make_fixtures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def read_truth(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    with (folder / "synthetic_130hz.truth.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return np.array([int(r["sample"]) for r in rows]), np.array([r["label"] for r in rows])


def test_the_script_remakes_the_bundled_files(tmp_path: Path) -> None:
    """Seeded: the same beats exactly; samples equal up to 1 uV of libm rounding."""
    make_fixtures_module().make(tmp_path)
    for name in ("synthetic_130hz.truth.csv", "synthetic_130hz.segments.csv"):
        assert (tmp_path / name).read_text() == (FIXTURES / name).read_text(), name
    fresh = np.loadtxt(tmp_path / "synthetic_130hz.csv", skiprows=1)
    bundled = np.loadtxt(FIXTURES / "synthetic_130hz.csv", skiprows=1)
    assert fresh.shape == bundled.shape
    assert np.max(np.abs(fresh - bundled)) <= 1.0


def test_files_are_small_and_the_csv_is_what_the_readme_job_reads() -> None:
    for name in ("synthetic_130hz.csv", "synthetic_130hz.truth.csv", "README.md"):
        assert (FIXTURES / name).stat().st_size < 1_000_000, name
    lines = (FIXTURES / "synthetic_130hz.csv").read_text().splitlines()
    assert lines[0] == "ecg_uv"
    assert len(lines) - 1 == 39000  # 300 s at 130 Hz
    assert all(line.lstrip("-").isdigit() for line in lines[1:])  # whole microvolts


def test_the_ground_truth_has_the_promised_rhythm_events() -> None:
    samples, labels = read_truth(FIXTURES)
    assert np.all(np.diff(samples) > 0)
    assert (labels == "S").sum() == 5 and (labels == "V").sum() == 5
    rr = np.diff(samples) / FS
    for k in np.flatnonzero(labels != "N"):
        before, coupling, after = rr[k - 2], rr[k - 1], rr[k]
        assert labels[k - 1] == "N" and labels[k + 1] == "N"
        assert coupling < 0.75 * before, f"beat {k} ({labels[k]}) is not premature"
        if labels[k] == "V":
            # Full compensatory pause: the sinus beat after comes two cycles after the last.
            assert coupling + after == pytest.approx(2 * before, rel=0.08)
    with (FIXTURES / "synthetic_130hz.segments.csv").open() as handle:
        spans = {
            r["kind"]: (float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(handle)
        }
    af = spans["af"]
    t = samples / FS
    ectopic = labels != "N"
    in_af = (t[:-1] > af[0] + 1) & (t[1:] < af[1] - 1)
    sinus = (t[1:] < af[0]) & ~ectopic[:-1] & ~ectopic[1:]
    assert in_af.sum() > 50 and sinus.sum() > 100
    # AF-like RR is irregularly irregular; sinus RR varies only with breathing and Mayer waves.
    assert variation(rr[in_af]) > 0.15 > 0.06 > variation(rr[sinus])


def variation(x: np.ndarray) -> float:
    """Coefficient of variation."""
    return float(np.std(x) / np.mean(x))
