"""Shared helpers for scoring ecgmon against annotated PhysioNet databases.

Used by the evaluation scripts and the data-backed tests. It reads the databases by
path (never copies them) and needs the `wfdb` extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.recording import PREFERRED_LEAD, import_wfdb

MITDB_RECORDS: tuple[str, ...] = tuple(
    (
        "100 101 102 103 104 105 106 107 108 109 111 112 113 114 115 116 117 118 119 121 "
        "122 123 124 200 201 202 203 205 207 208 209 210 212 213 214 215 217 219 220 221 "
        "222 223 228 230 231 232 233 234"
    ).split()
)
"""All 48 MIT-BIH Arrhythmia records."""

DS1: tuple[str, ...] = tuple(
    (
        "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230"
    ).split()
)
"""de Chazal et al. 2004 training records (inter-patient split)."""

DS2: tuple[str, ...] = tuple(
    (
        "100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234"
    ).split()
)
"""de Chazal et al. 2004 test records: nothing from them may influence training."""

PACED: tuple[str, ...] = ("102", "104", "107", "217")

NSTDB_RECORDS: tuple[str, ...] = tuple(
    f"{rec}e{snr}" for rec in ("118", "119") for snr in ("24", "18", "12", "06", "00", "_6")
)

AAMI_CLASS: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
"""ANSI/AAMI EC57 beat classes from MIT-BIH beat symbols."""

BEAT_SYMBOLS = frozenset(AAMI_CLASS)

MATCH_WINDOW_S = 0.150


def default_data_dir() -> Path:
    """../shared/data relative to the repository (override with ECGMON_DATA_DIR)."""
    env = os.environ.get("ECGMON_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class Reference:
    """One annotated record: lead MLII (else the first) and its reference beats."""

    name: str
    fs: float
    samples_uv: np.ndarray
    beat_samples: np.ndarray
    beat_symbols: np.ndarray
    rhythm_samples: np.ndarray
    rhythm_notes: tuple[str, ...]
    vf_intervals: tuple[tuple[int, int], ...] = ()
    """Ventricular flutter/fibrillation episodes ('[' to ']'): no beats are annotated
    there, and ANSI/AAMI EC57 leaves them out of QRS detection statistics."""

    @property
    def duration_s(self) -> float:
        return len(self.samples_uv) / self.fs


def load_reference(base: Path) -> Reference:
    """Read a record and its `.atr` annotations (beats: every AAMI beat symbol)."""
    wfdb = import_wfdb("reading annotated WFDB records")
    record = wfdb.rdrecord(str(base))
    names = list(record.sig_name)
    channel = names.index(PREFERRED_LEAD) if PREFERRED_LEAD in names else 0
    samples = np.asarray(record.p_signal[:, channel], dtype=np.float64) * 1000.0
    ann = wfdb.rdann(str(base), "atr")
    symbols = np.asarray(ann.symbol)
    positions = np.asarray(ann.sample, dtype=np.int64)
    is_beat = np.isin(symbols, list(BEAT_SYMBOLS))
    notes = np.asarray(
        [n.rstrip("\x00") if n else "" for n in (ann.aux_note or [""] * len(symbols))]
    )
    is_rhythm = (symbols == "+") & (notes != "")
    starts = positions[symbols == "["]
    ends = positions[symbols == "]"]
    vf = tuple(
        (int(a), int(ends[ends >= a][0]) if np.any(ends >= a) else len(samples)) for a in starts
    )
    return Reference(
        name=base.name,
        fs=float(record.fs),
        samples_uv=samples,
        beat_samples=positions[is_beat],
        beat_symbols=symbols[is_beat],
        rhythm_samples=positions[is_rhythm],
        rhythm_notes=tuple(notes[is_rhythm]),
        vf_intervals=vf,
    )


def outside_intervals(samples: np.ndarray, intervals: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The samples that fall outside every [start, end] interval."""
    keep = np.ones(len(samples), dtype=bool)
    for start, end in intervals:
        keep &= ~((samples >= start) & (samples <= end))
    return np.asarray(samples)[keep]


def score_detections(
    reference: np.ndarray, detected: np.ndarray, fs: float
) -> tuple[int, int, int]:
    """(TP, FN, FP) matching detections to reference beats within 150 ms."""
    from wfdb import processing

    if len(detected) == 0:
        return 0, len(reference), 0
    if len(reference) == 0:
        return 0, 0, len(detected)
    comparison = processing.compare_annotations(
        np.asarray(reference), np.asarray(detected), round(MATCH_WINDOW_S * fs)
    )
    tp = int(comparison.tp)
    return tp, int(comparison.fn), int(comparison.fp)
