"""monitor.recording.load_recording: CSV and WFDB input to one lead in microvolts.

CSV cases use small files written here; WFDB unit handling uses records written
here with wfdb.wrsamp; the MIT-BIH cases read the real database by path (skipped
without it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.recording import Recording, load_recording

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- CSV ---------------------------------------------------------------------------------


def test_csv_with_a_header_in_microvolts(tmp_path: Path) -> None:
    path = write(tmp_path / "strap.csv", "ecg_uv\n10\n-20\n30.5\n")
    rec = load_recording(path, fs=130)
    assert isinstance(rec, Recording)
    assert rec.name == "strap" and rec.lead == "ecg_uv" and rec.fs == 130.0
    assert rec.samples_uv.dtype == np.float64
    np.testing.assert_array_equal(rec.samples_uv, [10.0, -20.0, 30.5])
    assert rec.duration_s == pytest.approx(3 / 130)


def test_csv_without_a_header(tmp_path: Path) -> None:
    rec = load_recording(write(tmp_path / "bare.csv", "1\n2\n3\n"), fs=250)
    np.testing.assert_array_equal(rec.samples_uv, [1.0, 2.0, 3.0])
    assert rec.lead == "csv"


@pytest.mark.parametrize(
    ("units", "scale"), [("uV", 1.0), ("µV", 1.0), ("mV", 1000.0), ("MV", 1000.0)]
)
def test_csv_units_are_converted_to_microvolts(tmp_path: Path, units: str, scale: float) -> None:
    rec = load_recording(write(tmp_path / "x.csv", "0.5\n-1.25\n"), fs=130, units=units)
    np.testing.assert_allclose(rec.samples_uv, np.array([0.5, -1.25]) * scale)


def test_csv_unknown_unit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unit"):
        load_recording(write(tmp_path / "x.csv", "1\n"), fs=130, units="mmHg")


def test_csv_column_by_name_and_default_first(tmp_path: Path) -> None:
    path = write(tmp_path / "two.csv", "time_s, ecg_uv ,acc\n0.0,100,7\n0.1,-50,8\n")
    first = load_recording(path, fs=130)
    np.testing.assert_array_equal(first.samples_uv, [0.0, 0.1])
    chosen = load_recording(path, fs=130, column="ecg_uv")  # header cells are stripped
    np.testing.assert_array_equal(chosen.samples_uv, [100.0, -50.0])
    assert chosen.lead == "ecg_uv"


def test_csv_unknown_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "two.csv", "a,b\n1,2\n")
    with pytest.raises(InputError, match="no column named 'c'"):
        load_recording(path, fs=130, column="c")
    with pytest.raises(InputError, match="no column"):
        load_recording(write(tmp_path / "bare.csv", "1,2\n"), fs=130, column="a")


def test_csv_comments_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "# exported by a strap app\necg_uv\n\n5\n# note\n6\n")
    np.testing.assert_array_equal(load_recording(path, fs=130).samples_uv, [5.0, 6.0])


def test_csv_txt_and_upper_case_suffix(tmp_path: Path) -> None:
    for name in ("a.txt", "b.CSV"):
        assert load_recording(write(tmp_path / name, "1\n2\n"), fs=130).samples_uv.size == 2


def test_csv_nan_cells_are_kept_as_nan(tmp_path: Path) -> None:
    """A dropout written as NaN reaches the detector, which holds the last value."""
    rec = load_recording(write(tmp_path / "n.csv", "1\nnan\n3\n"), fs=130)
    assert np.isnan(rec.samples_uv[1]) and rec.samples_uv[2] == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no samples"),
        ("ecg_uv\n", "no samples"),
        ("# only a comment\n", "no samples"),
        ("ecg_uv\n1\n\u2014\n", "not a column of numbers"),
        ("a,b\n1,2\n3\n", "not a column of numbers"),
    ],
    ids=["empty", "header-only", "comment-only", "text-cell", "short-row"],
)
def test_csv_without_usable_samples_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError, match=message):
        load_recording(path, fs=130, column="b" if text.startswith("a,b") else None)


def test_csv_needs_a_valid_rate(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "1\n")
    with pytest.raises(InputError, match="--fs"):
        load_recording(path)
    for bad in (50.0, 99.9, 1000.1, float("nan"), 0.0, -130.0):
        with pytest.raises(InputError, match="outside"):
            load_recording(path, fs=bad)
    assert load_recording(path, fs=100).fs == 100.0
    assert load_recording(path, fs=1000).fs == 1000.0


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_recording(tmp_path / "gone.csv", fs=130)
    with pytest.raises(InputError, match="no such recording"):
        load_recording(tmp_path / "gone")
    with pytest.raises(InputError, match="unknown format"):
        load_recording(write(tmp_path / "x.edf", "0"))
    with pytest.raises(InputError, match="unknown format"):
        load_recording(tmp_path)  # a folder is not a recording


def test_the_bundled_fixture_loads_as_the_readme_says() -> None:
    rec = load_recording(REPO / "fixtures" / "synthetic_130hz.csv", fs=130)
    assert rec.lead == "ecg_uv"
    assert rec.samples_uv.size == 39000 and rec.duration_s == pytest.approx(300.0)
    assert 500 < np.percentile(rec.samples_uv, 99.9) < 3000  # R waves around 1 mV, in uV


# -- WFDB ----------------------------------------------------------------------------------


def _wfdb() -> Any:
    """The wfdb module, or skip (the CSV cases above need no extra)."""
    return pytest.importorskip("wfdb", reason="needs the wfdb extra for WFDB records")


def write_wfdb(
    folder: Path, name: str, signal: np.ndarray, units: list[str], names: list[str], fs: float
) -> Path:
    _wfdb().wrsamp(
        name,
        fs=fs,
        units=units,
        sig_name=names,
        p_signal=signal,
        fmt=["16"] * signal.shape[1],
        adc_gain=[1000.0 if u == "mV" else 1.0 for u in units],
        baseline=[0] * signal.shape[1],
        write_dir=str(folder),
    )
    return folder / name


def test_wfdb_in_millivolts_prefers_mlii(tmp_path: Path) -> None:
    signal = np.column_stack([np.linspace(-1, 1, 500), np.linspace(0.5, -0.5, 500)])
    base = write_wfdb(tmp_path, "rec", signal, ["mV", "mV"], ["V5", "MLII"], 250.0)
    rec = load_recording(base)
    assert rec.lead == "MLII" and rec.fs == 250.0 and rec.name == "rec"
    np.testing.assert_allclose(rec.samples_uv, signal[:, 1] * 1000.0, atol=1.0)
    # The same record named by its header or data file.
    for path in (base.with_suffix(".hea"), base.with_suffix(".dat")):
        np.testing.assert_array_equal(load_recording(path).samples_uv, rec.samples_uv)


def test_wfdb_in_microvolts_without_mlii_takes_the_first(tmp_path: Path) -> None:
    signal = np.column_stack([np.arange(300.0) - 150.0, np.zeros(300)])
    base = write_wfdb(tmp_path, "uv", signal, ["uV", "uV"], ["ECG", "resp"], 130.0)
    rec = load_recording(base)
    assert rec.lead == "ECG"
    np.testing.assert_allclose(rec.samples_uv, signal[:, 0], atol=1.0)


def test_wfdb_rate_is_read_from_the_header(tmp_path: Path) -> None:
    base = write_wfdb(tmp_path, "r", np.zeros((200, 1)), ["mV"], ["ECG"], 500.0)
    assert load_recording(base, fs=500).fs == 500.0
    with pytest.raises(InputError, match="contradicts"):
        load_recording(base, fs=130)


def test_wfdb_outside_the_supported_rates_is_refused(tmp_path: Path) -> None:
    base = write_wfdb(tmp_path, "slow", np.zeros((200, 1)), ["mV"], ["ECG"], 50.0)
    with pytest.raises(InputError, match="outside"):
        load_recording(base)


def test_wfdb_unreadable_record_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "broken.hea", "this is not a WFDB header\n")
    with pytest.raises(InputError, match="broken"):
        load_recording(tmp_path / "broken")


@pytest.mark.data
def test_mitdb_record_is_mlii_in_microvolts(mitdb: Path) -> None:
    rec = load_recording(mitdb / "100")
    raw = _wfdb().rdrecord(str(mitdb / "100"))
    assert rec.fs == 360.0 and rec.lead == "MLII" and rec.samples_uv.size == 650000
    np.testing.assert_allclose(rec.samples_uv, raw.p_signal[:, raw.sig_name.index("MLII")] * 1000)


@pytest.mark.data
def test_mitdb_record_without_mlii_uses_its_first_lead(mitdb: Path) -> None:
    """Records 102 and 104 have no MLII (surgical dressings): the first lead is used."""
    rec = load_recording(mitdb / "102")
    raw = _wfdb().rdrecord(str(mitdb / "102"))
    assert "MLII" not in raw.sig_name
    assert rec.lead == raw.sig_name[0]
