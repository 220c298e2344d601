"""`ecgmon analyze` end to end: the synthetic fixture, a real WFDB record, and bad input.

Runs the real command line (`monitor.cli.main`), reads what it wrote back with
wfdb.rdann, and checks it against the fixture's ground truth or the record's
reference labels. Bad input must give exit code 2 and one line on stderr.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from monitor.cli import main
from monitor.evaluation import load_reference, score_detections
from monitor.signal.resample import resample_record

wfdb = pytest.importorskip("wfdb", reason="needs the wfdb extra to read annotation files")

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "synthetic_130hz.csv"
FS = 130.0
MATCH = round(0.150 * FS)


def truth() -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    with FIXTURE.with_suffix(".truth.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with FIXTURE.with_suffix(".segments.csv").open() as handle:
        noise = next(r for r in csv.DictReader(handle) if r["kind"] == "noise")
    samples = np.array([int(r["sample"]) for r in rows])
    labels = np.array([r["label"] for r in rows])
    return samples, labels, (float(noise["start_s"]), float(noise["end_s"]))


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


# -- the synthetic fixture --------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("analyze")
    code = main(["analyze", str(FIXTURE), "--fs", "130", "--out", str(out), "--format", "jsonl"])
    assert code == 0
    return out, "synthetic_130hz"


def test_fixture_annotations_match_the_ground_truth(fixture_run: tuple[Path, str]) -> None:
    out, name = fixture_run
    ann = wfdb.rdann(str(out / name), "ecgmon")
    assert ann.fs == FS
    # Each beat carries its AAMI class from the beat classifier (WFDB beat symbols).
    assert set(ann.symbol) <= {"N", "S", "V", "F", "Q"} and "N" in set(ann.symbol)
    found = np.asarray(ann.sample)
    assert np.all(np.diff(found) > 0)
    beats, labels, noise = truth()
    clean_beats = beats[(beats < noise[0] * FS) | (beats >= noise[1] * FS)]
    clean_found = found[(found < noise[0] * FS) | (found >= noise[1] * FS)]
    tp, fn, fp = score_detections(clean_beats, clean_found, FS)
    se, ppv = 100 * tp / (tp + fn), 100 * tp / (tp + fp)
    assert se >= 99.0 and ppv >= 99.0, f"clean parts: Se {se:.2f}% +P {ppv:.2f}%"
    # Positions are at the input's rate: matched beats sit within a sample or two.
    nearest = np.array([found[np.argmin(np.abs(found - b))] - b for b in clean_beats])
    matched = np.abs(nearest) <= MATCH
    assert np.median(np.abs(nearest[matched])) <= 2
    # The premature and ventricular beats are among them.
    for beat in beats[labels != "N"]:
        assert np.min(np.abs(found - beat)) <= MATCH, f"{beat / FS:.2f} s"


def test_fixture_jsonl_lists_the_same_beats(fixture_run: tuple[Path, str]) -> None:
    out, name = fixture_run
    ann = wfdb.rdann(str(out / name), "ecgmon")
    lines = (out / f"{name}.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["sample"] for r in rows] == [int(s) for s in ann.sample]
    for r in rows:
        assert r["time_s"] == pytest.approx(r["sample"] / FS, abs=1e-4)


def test_csv_at_another_rate_in_millivolts_is_written_at_its_own_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fixture resampled to 360 Hz, in mV, in the second column of a CSV."""
    x = np.loadtxt(FIXTURE, skiprows=1)[: round(100 * FS)]
    y = resample_record(x, FS, 360.0) / 1000.0
    path = tmp_path / "strap360.csv"
    path.write_text("t_s,ecg_mv\n" + "".join(f"{i / 360:.4f},{v:.5f}\n" for i, v in enumerate(y)))
    code, _, err = run_cli(
        [
            "analyze",
            str(path),
            "--fs",
            "360",
            "--units",
            "mV",
            "--column",
            "ecg_mv",
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert code == 0, err
    ann = wfdb.rdann(str(tmp_path / "out" / "strap360"), "ecgmon")
    assert ann.fs == 360.0
    beats, _, _ = truth()
    beats_360 = np.round(beats[beats < x.size] * 360.0 / FS).astype(int)
    _, fn, fp = score_detections(beats_360, np.asarray(ann.sample), 360.0)
    assert fn == 0 and fp == 0, f"{fn} missed, {fp} false of {beats_360.size}"


@pytest.mark.parametrize("fs", [130.0, 250.0])
def test_csv_with_dropouts_is_analysed_around_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fs: float
) -> None:
    """Empty-looking cells written as nan/inf (lost packets) at 130 Hz and at 250 Hz,
    where the gap must be held before resampling to the working rate."""
    x = resample_record(np.loadtxt(FIXTURE, skiprows=1)[: round(60 * FS)], FS, fs)
    gaps = [(0, 5), (round(20 * fs), round(21 * fs)), (round(40 * fs), round(40.1 * fs))]
    for lo, hi in gaps:
        x[lo:hi] = np.nan
    x[round(30 * fs)] = np.inf
    path = tmp_path / "drop.csv"
    path.write_text("".join(f"{v:.2f}\n" for v in x))
    out = tmp_path / "out"
    code, _, err = run_cli(["analyze", str(path), "--fs", f"{fs:g}", "--out", str(out)], capsys)
    assert code == 0, err
    found = np.asarray(wfdb.rdann(str(out / "drop"), "ecgmon").sample)
    beats, _, _ = truth()
    beats = np.round(beats[beats < round(60 * FS)] * fs / FS).astype(int)
    margin = round(0.5 * fs)
    near = np.zeros(x.size, dtype=bool)
    for lo, hi in [*gaps, (round(30 * fs), round(30 * fs) + 1)]:
        near[max(0, lo - margin) : hi + margin] = True
    _, fn, fp = score_detections(beats[~near[beats]], found[~near[found]], fs)
    assert fn == 0 and fp == 0, f"away from the dropouts: {fn} missed, {fp} false"


def test_csv_of_only_nan_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lost.csv"
    path.write_text("ecg_uv\n" + "nan\n" * 1000)
    code, _, err = run_cli(
        ["analyze", str(path), "--fs", "130", "--out", str(tmp_path / "o")], capsys
    )
    assert_one_line_error(code, err, "finite")


# -- a real WFDB record ------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize("suffix", ["", ".hea"])
def test_wfdb_record_annotations_line_up_with_the_reference(
    mitdb: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Record 100 at 360 Hz: analysed at 130 Hz, written back at 360 Hz."""
    code, stdout, _ = run_cli(
        ["analyze", str(mitdb / "100") + suffix, "--out", str(tmp_path), "--format", "jsonl"],
        capsys,
    )
    assert code == 0, stdout
    ann = wfdb.rdann(str(tmp_path / "100"), "ecgmon")
    ref = load_reference(mitdb / "100")
    assert ann.fs == ref.fs == 360.0
    tp, fn, fp = score_detections(ref.beat_samples, np.asarray(ann.sample), ref.fs)
    se, ppv = 100 * tp / (tp + fn), 100 * tp / (tp + fp)
    assert se >= 99.5 and ppv >= 99.5, f"100: Se {se:.2f}% +P {ppv:.2f}%"
    rows = [json.loads(line) for line in (tmp_path / "100.jsonl").read_text().splitlines()]
    assert len(rows) == len(ann.sample)
    assert rows[-1]["time_s"] == pytest.approx(rows[-1]["sample"] / 360.0, abs=1e-4)


@pytest.mark.data
def test_wfdb_record_with_a_contradicting_rate_is_refused(
    mitdb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["analyze", str(mitdb / "100"), "--fs", "130", "--out", str(tmp_path / "o")], capsys
    )
    assert_one_line_error(code, err, "360")
    assert not (tmp_path / "o").exists()


# -- bad input: one clear line, exit code 2 -------------------------------------------------


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ecgmon analyze: error: ")
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "extra", "words"),
    [
        (lambda d: d / "missing.csv", ["--fs", "130"], ["no such file", "missing.csv"]),
        (lambda d: d / "missing", [], ["no such recording"]),
        (lambda d: write(d / "trace.edf", "0\n"), [], ["unknown format"]),
        (lambda d: write(d / "data.json", "{}"), ["--fs", "130"], ["unknown format"]),
        (lambda d: FIXTURE, ["--fs", "50"], ["50", "100", "1000"]),
        (lambda d: FIXTURE, ["--fs", "5000"], ["5000"]),
        (lambda d: FIXTURE, [], ["--fs"]),
        (lambda d: write(d / "empty.csv", ""), ["--fs", "130"], ["no samples"]),
        (lambda d: write(d / "header.csv", "ecg_uv\n"), ["--fs", "130"], ["no samples"]),
        (lambda d: write(d / "flat.csv", "ecg_uv\n" + "512\n" * 2600), ["--fs", "130"], ["flat"]),
        (lambda d: write(d / "short.csv", "1\n5\n-3\n" * 30), ["--fs", "130"], ["shorter"]),
        (lambda d: write(d / "text.csv", "ecg_uv\n1\ntwo\n3\n"), ["--fs", "130"], ["numbers"]),
        (lambda d: FIXTURE, ["--fs", "130", "--units", "furlongs"], ["unit"]),
        (lambda d: FIXTURE, ["--fs", "130", "--column", "lead_ii"], ["lead_ii"]),
    ],
    ids=[
        "missing-csv",
        "missing-record",
        "unknown-format-edf",
        "unknown-format-json",
        "rate-too-low",
        "rate-too-high",
        "csv-without-fs",
        "empty-file",
        "header-only",
        "flat",
        "too-short",
        "not-numbers",
        "unknown-unit",
        "unknown-column",
    ],
)
def test_bad_input_gives_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    extra: list[str],
    words: list[str],
) -> None:
    path = make(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_cli(["analyze", str(path), *extra, "--out", str(out)], capsys)
    assert_one_line_error(code, err, *words)
    assert not out.exists(), "nothing is written for input that is refused"


def test_error_from_the_installed_command_has_no_traceback(tmp_path: Path) -> None:
    """The same through a real process (`python -m monitor`), as a user would run it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "analyze",
            str(tmp_path / "nope.csv"),
            "--fs",
            "130",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_one_line_error(proc.returncode, proc.stderr, "no such file")
