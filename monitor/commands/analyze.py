"""`ecgmon analyze RECORD --out DIR`: detect every beat of a recorded ECG.

This is the stable interface for evaluating ecgmon on any record: the annotation
file it writes lines up with the record's own reference labels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from monitor.analysis import AnalysisResult, analyze_recording
from monitor.errors import InputError
from monitor.progress import ProgressBar
from monitor.recording import import_wfdb, load_recording


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="detect the beats of a recorded ECG (WFDB record or CSV)",
        description="Run the streaming signal path over a recording at 130 Hz and write "
        "the beats as a WFDB annotation file DIR/<record>.ecgmon at the input's own rate.",
    )
    parser.add_argument("record", help="WFDB record path (e.g. ../shared/data/mitdb/100) or a .csv")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--fs", type=float, help="sample rate of a CSV input, in Hz")
    parser.add_argument("--column", help="CSV column to read (default: the first)")
    parser.add_argument("--units", default="uV", help="CSV sample units: uV (default) or mV")
    parser.add_argument(
        "--format",
        choices=["wfdb", "jsonl"],
        default="wfdb",
        help="jsonl also writes DIR/<record>.jsonl",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    recording = load_recording(args.record, fs=args.fs, column=args.column, units=args.units)
    wfdb = import_wfdb("writing the .ecgmon annotation file")
    bar = ProgressBar(f"analyze {recording.name}")
    result = analyze_recording(recording, progress=bar.update)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {args.out}: {exc.strerror}") from exc
    write_annotations(wfdb, result, args.out)
    if args.format == "jsonl":
        write_jsonl(result, args.out / f"{result.record}.jsonl")
    rate = 60.0 * len(result.beats) / max(1e-9, len(recording.samples_uv) / recording.fs)
    print(
        f"{result.record}: {len(result.beats)} beats in {recording.duration_s:.0f} s "
        f"(mean {rate:.0f} bpm), written to {args.out}/{result.record}.ecgmon"
    )
    return 0


def write_annotations(wfdb: object, result: AnalysisResult, out: Path) -> None:
    """WFDB annotation file `<record>.ecgmon`, beats as 'N' until classification lands."""
    samples = [b.sample for b in result.beats]
    if not samples:
        # wrann refuses an empty annotation list; write a note so the file exists.
        samples, symbols, aux = [0], ['"'], ["no beats detected"]
    else:
        symbols, aux = ["N"] * len(samples), None
    wfdb.wrann(  # type: ignore[attr-defined]
        result.record,
        "ecgmon",
        sample=np.asarray(samples),
        symbol=symbols,
        aux_note=aux,
        fs=result.fs,
        write_dir=str(out),
    )


def write_jsonl(result: AnalysisResult, path: Path) -> None:
    with path.open("w") as handle:
        for beat in result.beats:
            handle.write(
                json.dumps({"sample": beat.sample, "time_s": round(beat.time_s, 4)}) + "\n"
            )
