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
from monitor.classify.episode_export import rhythm_annotations, write_episodes_jsonl
from monitor.errors import InputError
from monitor.progress import ProgressBar
from monitor.recording import import_wfdb, load_recording


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="detect and classify the beats of a recorded ECG (WFDB record or CSV)",
        description="Run the streaming signal path and the beat classifier over a recording "
        "at 130 Hz and write the beats, labelled N S V F Q, as a WFDB annotation file "
        "DIR/<record>.ecgmon at the input's own rate, the rhythm episodes as WFDB rhythm "
        "annotations DIR/<record>.rhythm ('+' with aux_note '(AFIB', '(N', ... like MIT-BIH) "
        "and as DIR/<record>.episodes.jsonl.",
    )
    parser.add_argument("record", help="WFDB record path (e.g. ../shared/data/mitdb/100) or a .csv")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--fs", type=float, help="sample rate of a CSV input, in Hz")
    parser.add_argument("--column", help="CSV column to read (default: the first)")
    parser.add_argument("--units", default="uV", help="CSV sample units: uV (default) or mV")
    parser.add_argument("--format", choices=["wfdb", "jsonl"], default="wfdb",
                        help="jsonl also writes DIR/<record>.jsonl")
    parser.add_argument("--no-classify", action="store_true",
                        help="detect beats only (every beat written as N)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    recording = load_recording(args.record, fs=args.fs, column=args.column, units=args.units)
    wfdb = import_wfdb("writing the .ecgmon annotation file")
    bar = ProgressBar(f"analyze {recording.name}")
    result = analyze_recording(recording, progress=bar.update, classify=not args.no_classify)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {args.out}: {exc.strerror}") from exc
    write_annotations(wfdb, result, args.out)
    write_rhythm_annotations(wfdb, result, args.out)
    if args.format == "jsonl":
        write_jsonl(result, args.out / f"{result.record}.jsonl")
    write_episodes_jsonl(result.episodes, result.fs, args.out / f"{result.record}.episodes.jsonl")
    rate = 60.0 * len(result.beats) / max(1e-9, len(recording.samples_uv) / recording.fs)
    labels = [b.label for b in result.beats if b.label is not None]
    classes = " ".join(f"{c} {labels.count(c)}" for c in "NSVFQ") if labels else "unclassified"
    print(
        f"{result.record}: {len(result.beats)} beats in {recording.duration_s:.0f} s "
        f"(mean {rate:.0f} bpm; {classes}), written to {args.out}/{result.record}.ecgmon"
    )
    print(f"{result.record}: {_episode_summary(result)}; {len(result.alerts)} alerts")
    return 0


def write_annotations(wfdb: object, result: AnalysisResult, out: Path) -> None:
    """WFDB annotation file `<record>.ecgmon`: each beat's AAMI class as its symbol
    (N S V F Q are WFDB beat symbols), N when the beats were not classified."""
    samples = [b.sample for b in result.beats]
    if not samples:
        # wrann refuses an empty annotation list; write a note so the file exists.
        samples, symbols, aux = [0], ['"'], ["no beats detected"]
    else:
        symbols, aux = [b.label or "N" for b in result.beats], None
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
            row: dict[str, object] = {"sample": beat.sample, "time_s": round(beat.time_s, 4)}
            if beat.label is not None:
                row["class"] = beat.label
                row["confidence"] = round(float(beat.confidence or 0.0), 4)
            handle.write(json.dumps(row) + "\n")


def write_rhythm_annotations(wfdb: object, result: AnalysisResult, out: Path) -> None:
    """WFDB annotation file `<record>.rhythm`: '+' at each rhythm change, aux_note like MIT-BIH.

    Kept apart from the beat file so beat-by-beat scoring of `.ecgmon` is unchanged.
    """
    n_samples = max([0, *(b.sample for b in result.beats)]) + 1
    n_samples = max(n_samples, round(max((e.end_s for e in result.episodes), default=0.0)
                                     * result.fs) + 1)
    rows = rhythm_annotations(result.episodes, result.fs, n_samples)
    wfdb.wrann(  # type: ignore[attr-defined]
        result.record,
        "rhythm",
        sample=np.asarray([r[0] for r in rows]),
        symbol=[r[1] for r in rows],
        aux_note=[r[2] for r in rows],
        fs=result.fs,
        write_dir=str(out),
    )


def _episode_summary(result: AnalysisResult) -> str:
    counts: dict[str, int] = {}
    for episode in result.episodes:
        counts[episode.kind] = counts.get(episode.kind, 0) + 1
    found = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
    return f"{len(result.episodes)} episodes ({found or 'none'})"
