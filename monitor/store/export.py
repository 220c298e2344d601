"""Exporting a time range of the log into files clinicians' tools open.

csv: ecg.csv (time, microvolts), beats.csv, events.csv.
wfdb: a PhysioNet record (ecg.hea/.dat via wfdb.wrsamp; gaps as missing samples) with
beat and event annotations (ecg.atr via wfdb.wrann).
edf: EDF+ (ecg.edf via pyedflib), beats and events as annotations, gaps filled with
zeros and annotated.
Every file carries or is accompanied by the non-diagnostic notice.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from monitor import NON_DIAGNOSTIC_NOTICE
from monitor.errors import InputError, MissingExtraError
from monitor.store.keys import Identity
from monitor.store.reader import LogReader
from monitor.store.records import BeatBatch, EcgBlock, Event
from monitor.store.timefmt import format_ns

FORMATS = ("csv", "wfdb", "edf")
RECORD_NAME = "ecg"


@dataclass
class ExportData:
    """Everything in the range, decrypted, in memory (a day of ECG is ~45 MB as int32)."""

    blocks: list[EcgBlock] = field(default_factory=list)
    beats: list[tuple[int, Any]] = field(default_factory=list)  # (time_ns, ClassifiedBeat)
    events: list[Event] = field(default_factory=list)

    @property
    def fs(self) -> float:
        rates = {b.fs for b in self.blocks}
        if len(rates) > 1:
            raise InputError(f"the range mixes sample rates {sorted(rates)}: "
                             "export a shorter range")
        return rates.pop() if rates else 0.0


@dataclass(frozen=True)
class ExportResult:
    files: list[Path]
    samples: int
    beats: int
    events: int


def collect(path: Path, identity: Identity, start_ns: int | None, end_ns: int | None,
            progress: Callable[[float], None] | None = None) -> ExportData:
    data = ExportData()
    with LogReader(path) as reader:
        for item in reader.records(identity, start_ns=start_ns, end_ns=end_ns, progress=progress):
            payload = item.payload
            if isinstance(payload, EcgBlock):
                data.blocks.append(_clip(payload, start_ns, end_ns))
            elif isinstance(payload, BeatBatch):
                for beat in payload.beats:
                    t = payload.beat_time_ns(beat)
                    if (start_ns is None or t >= start_ns) and (end_ns is None or t < end_ns):
                        data.beats.append((t, beat))
            elif isinstance(payload, Event):
                data.events.append(payload)
    data.blocks.sort(key=lambda b: b.t0_ns)
    data.beats.sort(key=lambda tb: tb[0])
    data.events.sort(key=lambda e: e.t_ns)
    return data


def _clip(block: EcgBlock, start_ns: int | None, end_ns: int | None) -> EcgBlock:
    n = len(block.samples_uv)
    period = 1e9 / block.fs
    first = 0 if start_ns is None else max(0, int(np.ceil((start_ns - block.t0_ns) / period)))
    last = n if end_ns is None else min(n, int(np.ceil((end_ns - block.t0_ns) / period)))
    if first == 0 and last == n:
        return block
    return EcgBlock(block.t0_ns + round(first * period), block.fs, block.samples_uv[first:last])


def _grid(data: ExportData) -> tuple[int, np.ndarray]:
    """One evenly sampled trace from the first block on, NaN where there was no signal."""
    fs = data.fs
    t0 = data.blocks[0].t0_ns
    period = 1e9 / fs
    end = max(b.t0_ns + round(len(b.samples_uv) * period) for b in data.blocks)
    trace = np.full(round((end - t0) / period), np.nan)
    for b in data.blocks:
        i = round((b.t0_ns - t0) / period)
        trace[i : i + len(b.samples_uv)] = b.samples_uv[: max(0, len(trace) - i)]
    return t0, trace


def export(path: Path, identity: Identity, fmt: str, out: Path, *, start_ns: int | None = None,
           end_ns: int | None = None, progress: Callable[[float], None] | None = None,
           ) -> ExportResult:
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    writer = {"csv": write_csv, "wfdb": write_wfdb, "edf": write_edf}[fmt]
    if fmt == "wfdb":
        _import("wfdb", "wfdb", "WFDB export")
    elif fmt == "edf":
        _import("pyedflib", "edf", "EDF+ export")
    def half(first: float) -> Callable[[float], None] | None:
        if progress is None:
            return None
        return lambda f: progress(first + 0.5 * f)

    data = collect(path, identity, start_ns, end_ns, half(0.0))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out}: {exc.strerror}") from None
    files = writer(data, out, half(0.5))
    if progress is not None:
        progress(1.0)
    notice = out / "NOTICE.txt"
    notice.write_text(NON_DIAGNOSTIC_NOTICE + "\n")
    return ExportResult([*files, notice], sum(len(b.samples_uv) for b in data.blocks),
                        len(data.beats), len(data.events))


def _import(module: str, extra: str, purpose: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise MissingExtraError(module, extra, purpose) from None


def write_csv(data: ExportData, out: Path,
              progress: Callable[[float], None] | None = None) -> list[Path]:
    ecg, beats, events = out / "ecg.csv", out / "beats.csv", out / "events.csv"
    with ecg.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["time_ns", "uV"])
        for k, b in enumerate(data.blocks):
            if progress is not None and k % 64 == 0:
                progress(k / len(data.blocks))
            times = b.t0_ns + np.round(np.arange(len(b.samples_uv)) * (1e9 / b.fs)).astype(np.int64)
            w.writerows(zip(times.tolist(), b.samples_uv.tolist(), strict=True))
    with beats.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["time_ns", "time", "label", "confidence", "rr_before_s", "rr_after_s", "noisy"])
        for t, beat in data.beats:
            w.writerow([t, format_ns(t), beat.label, f"{beat.confidence:.4f}",
                        _opt(beat.rr_before_s), _opt(beat.rr_after_s), int(beat.noisy)])
    with events.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["category", "kind", "start_ns", "start", "end_ns", "data"])
        for e in data.events:
            w.writerow([e.category, e.kind, e.t_ns, format_ns(e.t_ns),
                        "" if e.end_ns is None else e.end_ns, json.dumps(dict(e.data))])
    return [ecg, beats, events]


def _opt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _event_note(e: Event) -> str:
    return f"{e.category}:{e.kind}" + ("" if e.end_ns is None else " start")


def write_wfdb(data: ExportData, out: Path,
               progress: Callable[[float], None] | None = None) -> list[Path]:
    wfdb = _import("wfdb", "wfdb", "WFDB export")
    if not data.blocks:
        raise InputError("no ECG in the chosen range: nothing to export")
    fs = data.fs
    t0, trace = _grid(data)
    wfdb.wrsamp(RECORD_NAME, fs=fs, units=["uV"], sig_name=["ECG"],
                p_signal=trace.reshape(-1, 1), fmt=["32"], adc_gain=[1.0], baseline=[0],
                write_dir=str(out), comments=[f"ecgmon export, start {format_ns(t0)}",
                                              NON_DIAGNOSTIC_NOTICE])
    files = [out / f"{RECORD_NAME}.hea", out / f"{RECORD_NAME}.dat"]
    samples: list[int] = []
    symbols: list[str] = []
    notes: list[str] = []
    wfdb_symbols = {"N", "S", "V", "F", "Q"}
    for t, beat in data.beats:
        samples.append(round((t - t0) * fs / 1e9))
        symbols.append(beat.label if beat.label in wfdb_symbols else "Q")
        notes.append("noisy" if beat.noisy else "")
    for e in data.events:
        for t, text in [(e.t_ns, _event_note(e))] + (
                [] if e.end_ns is None else [(e.end_ns, f"{e.category}:{e.kind} end")]):
            samples.append(round((t - t0) * fs / 1e9))
            symbols.append('"')
            notes.append(text)
    if samples:
        order = np.argsort(np.asarray(samples), kind="stable")
        s = np.clip(np.asarray(samples)[order], 0, None)
        wfdb.wrann(RECORD_NAME, "atr", sample=s, symbol=[symbols[i] for i in order],
                   aux_note=[notes[i] for i in order], fs=fs, write_dir=str(out))
        files.append(out / f"{RECORD_NAME}.atr")
    return files


def write_edf(data: ExportData, out: Path,
              progress: Callable[[float], None] | None = None) -> list[Path]:
    pyedflib = _import("pyedflib", "edf", "EDF+ export")
    if not data.blocks:
        raise InputError("no ECG in the chosen range: nothing to export")
    fs = data.fs
    if abs(fs - round(fs)) > 1e-9:
        raise InputError(f"EDF+ export needs a whole-number sample rate, not {fs} Hz")
    t0, trace = _grid(data)
    gaps = np.isnan(trace)
    whole = int(np.ceil(len(trace) / fs) * fs)
    signal = np.zeros(whole)
    signal[: len(trace)] = np.where(gaps, 0.0, trace)
    lo, hi = float(np.min(signal)), float(np.max(signal))
    if hi - lo < 1:
        lo, hi = lo - 1, hi + 1
    path = out / f"{RECORD_NAME}.edf"
    writer = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders([{
            "label": "ECG", "dimension": "uV", "sample_frequency": fs,
            "physical_min": lo, "physical_max": hi,
            "digital_min": -32768, "digital_max": 32767, "transducer": "chest strap",
            "prefilter": "",
        }])
        # EDF+ keeps local clock time; pyedflib writes the sub-second part too.
        writer.setStartdatetime(datetime.fromtimestamp(t0 / 1e9))
        writer.setEquipment("ecgmon_non-diagnostic")
        writer.writeSamples([signal])
        for t, beat in data.beats:
            writer.writeAnnotation((t - t0) / 1e9, -1, f"beat {beat.label}")
        for e in data.events:
            duration = -1 if e.end_ns is None else (e.end_ns - e.t_ns) / 1e9
            writer.writeAnnotation((e.t_ns - t0) / 1e9, duration, f"{e.category}:{e.kind}")
        starts = np.flatnonzero(np.diff(np.concatenate(([0], gaps.astype(np.int8)))) == 1)
        ends = np.flatnonzero(np.diff(np.concatenate((gaps.astype(np.int8), [0]))) == -1)
        for a, b in zip(starts, ends, strict=True):
            writer.writeAnnotation(a / fs, (b - a + 1) / fs, "signal gap (no ECG recorded)")
    finally:
        writer.close()
    return [path]
