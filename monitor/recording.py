"""Loading recorded ECG (WFDB records and CSV files) into one plain value.

`ecgmon analyze`, the evaluation scripts and the virtual strap all read recordings
through here, so a record means the same samples everywhere: one lead, in
microvolts, at the file's own sample rate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import InputError, MissingExtraError
from monitor.signal.filters import check_fs

PREFERRED_LEAD = "MLII"
"""MIT-BIH's modified lead II is the closest to what a chest strap records."""

_UNIT_TO_UV = {"uv": 1.0, "µv": 1.0, "mv": 1000.0, "v": 1e6}


@dataclass(frozen=True)
class Recording:
    """One lead of a recorded ECG."""

    name: str
    fs: float
    samples_uv: np.ndarray
    lead: str
    path: Path

    @property
    def duration_s(self) -> float:
        return len(self.samples_uv) / self.fs


def import_wfdb(purpose: str) -> Any:
    """Import wfdb or explain which extra installs it."""
    try:
        import wfdb
    except ImportError as exc:
        raise MissingExtraError("wfdb", "wfdb", purpose) from exc
    return wfdb


def wfdb_record_base(path: Path) -> Path | None:
    """The record base path (no extension) if `path` names a WFDB record, else None."""
    if path.suffix == ".hea":
        return path.with_suffix("")
    if path.suffix in ("", ".dat") or path.suffix.lstrip(".").isdigit():
        header = path.with_suffix(".hea") if path.suffix == ".dat" else Path(f"{path}.hea")
        if header.is_file():
            return header.with_suffix("") if path.suffix == ".dat" else path
    return None


def load_recording(
    path: str | Path,
    fs: float | None = None,
    column: str | None = None,
    units: str = "uV",
) -> Recording:
    """Load a WFDB record (path with or without `.hea`) or a CSV of samples.

    WFDB: lead MLII when present, else the first channel; `fs` comes from the header
    (passing a different one is an error). CSV: one numeric column (or `column` by
    name), `fs` required, `units` uV or mV.
    """
    path = Path(path)
    base = wfdb_record_base(path)
    if base is not None:
        return _load_wfdb(base, fs)
    if path.suffix.lower() in (".csv", ".txt"):
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        if fs is None:
            raise InputError(f"{path.name}: a CSV has no sample rate, give it with --fs")
        return _load_csv(path, check_rate(fs), column, units)
    if not path.exists() and not Path(f"{path}.hea").exists():
        raise InputError(f"no such recording: {path}")
    raise InputError(
        f"{path.name}: unknown format (expected a WFDB record such as mitdb/100, or a .csv file)"
    )


def check_rate(fs: float) -> float:
    """check_fs with the user-facing error type."""
    try:
        return check_fs(fs)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def _load_wfdb(base: Path, fs: float | None) -> Recording:
    wfdb = import_wfdb("reading WFDB records")
    try:
        record = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises many types for bad files
        raise InputError(f"{base.name}: cannot read WFDB record ({exc})") from exc
    names = list(record.sig_name or [])
    channel = names.index(PREFERRED_LEAD) if PREFERRED_LEAD in names else 0
    if record.p_signal is None or record.p_signal.shape[0] == 0:
        raise InputError(f"{base.name}: the record holds no samples")
    units = (record.units or ["mV"])[channel] or "mV"
    scale = _UNIT_TO_UV.get(units.strip().lower())
    if scale is None:
        raise InputError(f"{base.name}: unsupported signal unit {units!r}")
    record_fs = check_rate(float(record.fs))
    if fs is not None and abs(float(fs) - record_fs) > 1e-6:
        raise InputError(f"{base.name}: --fs {fs:g} Hz contradicts the header's {record_fs:g} Hz")
    samples = np.asarray(record.p_signal[:, channel], dtype=np.float64) * scale
    lead = names[channel] if names else "ch0"
    return Recording(base.name, record_fs, samples, lead, base)


def _load_csv(path: Path, fs: float, column: str | None, units: str) -> Recording:
    scale = _UNIT_TO_UV.get(units.strip().lower())
    if scale is None:
        raise InputError(f"unknown unit {units!r} (use uV or mV)")
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and not row[0].startswith("#")]
    if not rows:
        raise InputError(f"{path.name}: the file holds no samples")
    header: list[str] | None = None
    if not _is_number(rows[0][0]):
        header, rows = [h.strip() for h in rows[0]], rows[1:]
    index = 0
    if column is not None:
        if header is None or column not in header:
            raise InputError(f"{path.name}: no column named {column!r}")
        index = header.index(column)
    try:
        values = np.array([float(row[index]) for row in rows], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path.name}: not a column of numbers ({exc})") from exc
    if values.size == 0:
        raise InputError(f"{path.name}: the file holds no samples")
    lead = header[index] if header else "csv"
    return Recording(path.stem, fs, values * scale, lead, path)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
