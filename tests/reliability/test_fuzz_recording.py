"""Bad input to the recording loader: whatever the file holds, one clear error or a recording.

`monitor.recording.load_recording` is the door every recorded ECG comes through
(`ecgmon analyze`, the virtual strap, the evaluation scripts). Its documented failure
is `InputError` (a one-line message); anything else escaping is a bug.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import InputError
from monitor.recording import Recording, load_recording
from monitor.signal import MAX_FS, MIN_FS

from .conftest import Tally, fuzz

FUZZ = fuzz(1500)

_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400", "", " ", "0x1f", "1,5", "--1"]),
)
_cells = st.one_of(_numbers, st.text(max_size=8))
_csv_text = st.lists(
    st.lists(_cells, min_size=0, max_size=4).map(",".join), min_size=0, max_size=40
).map("\n".join)
_rates = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([130.0, 360.0, MIN_FS, MAX_FS, 0.0, -130.0]),
)


def _check(rec: Recording) -> None:
    """What a successful load promises: a supported rate and at least one sample."""
    assert isinstance(rec, Recording)
    assert math.isfinite(rec.fs) and MIN_FS <= rec.fs <= MAX_FS
    assert rec.samples_uv.ndim == 1 and rec.samples_uv.size > 0
    assert rec.samples_uv.dtype == np.float64


@FUZZ
@given(text=_csv_text, fs=_rates, units=st.sampled_from(["uV", "mV", "µV", "V", "volts", ""]))
def test_csv_text_gives_a_recording_or_an_input_error(
    text: str, fs: float | None, units: str, tally: Tally
) -> None:
    """Random CSV text (numbers, NaN, inf, huge values, words, ragged rows), random rate
    and unit: the loader returns a valid recording or raises InputError."""
    tally.case()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_text(text, encoding="utf-8")
        try:
            rec = load_recording(path, fs=fs, units=units)
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        _check(rec)


@FUZZ
@given(data=st.binary(max_size=400), fs=st.sampled_from([130.0, None]))
def test_csv_bytes_gives_a_recording_or_an_input_error(
    data: bytes, fs: float | None, tally: Tally
) -> None:
    """Arbitrary bytes in a .csv (invalid UTF-8, NUL bytes, binary): InputError or a
    valid recording, never another exception."""
    tally.case()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_bytes(data)
        try:
            rec = load_recording(path, fs=fs)
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        _check(rec)


_header_lines = st.lists(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda n, s, f, k: f"{n} {s} {f} {k}",
            st.sampled_from(["rec", "100", "x"]),
            st.integers(-2, 3).map(str),
            st.one_of(st.floats().map(repr), st.sampled_from(["360", "0", "nan", "abc"])),
            st.integers(-5, 10**6).map(str),
        ),
        st.builds(
            lambda f, g: f"rec.dat {f} {g}(0)/mV 11 0 0 0 0 MLII",
            st.sampled_from(["16", "212", "80", "999", "x"]),
            st.sampled_from(["200", "0", "-1", "nan", "1e400"]),
        ),
    ),
    min_size=0,
    max_size=4,
).map("\n".join)


@FUZZ
@given(header=_header_lines, dat=st.binary(max_size=256))
def test_wfdb_files_give_a_recording_or_an_input_error(
    header: str, dat: bytes, tally: Tally
) -> None:
    """A WFDB record whose header and signal file are garbage or nearly valid:
    InputError or a valid recording."""
    tally.case()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "rec"
        Path(f"{base}.hea").write_text(header, encoding="utf-8")
        Path(f"{base}.dat").write_bytes(dat)
        try:
            rec = load_recording(base)
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        _check(rec)


def test_missing_and_odd_paths_are_input_errors(tmp_path: Path, tally: Tally) -> None:
    """A missing file, a folder, an unknown suffix, a CSV without a rate: one clear error each."""
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "data.bin").write_bytes(b"\x00\x01")
    (tmp_path / "ok.csv").write_text("1\n2\n3\n")
    cases = [
        (tmp_path / "absent.csv", 130.0),
        (tmp_path / "absent", None),
        (tmp_path / "folder.csv", 130.0),
        (tmp_path / "data.bin", 130.0),
        (tmp_path / "ok.csv", None),
    ]
    for path, fs in cases:
        tally.case()
        try:
            load_recording(path, fs=fs)
        except InputError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError(f"{path.name} with fs={fs} was accepted")


def test_a_csv_that_is_not_text_is_an_input_error(tmp_path: Path, tally: Tally) -> None:
    """Regression for the first thing this fuzzing found: invalid UTF-8 and NUL bytes in a
    .csv escaped as UnicodeDecodeError / csv.Error instead of one clear InputError."""
    for name, data in (("utf8.csv", b"\x80\n1\n2\n"), ("nul.csv", b"1\n\x00\n2\n")):
        tally.case()
        (tmp_path / name).write_bytes(data)
        try:
            load_recording(tmp_path / name, fs=130.0)
        except InputError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError(f"{name} was accepted")
