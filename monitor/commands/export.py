"""`ecgmon export LOG --identity KEY --format csv|wfdb|edf --out DIR`: for clinicians."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor import NON_DIAGNOSTIC_NOTICE
from monitor.progress import ProgressBar
from monitor.store.export import FORMATS, export
from monitor.store.keys import load_identity_file
from monitor.store.passphrase import read_passphrase
from monitor.store.timefmt import parse_time


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export raw ECG, beats and events from the log",
                              description="Decrypts a time range of the log and writes it for "
                              "clinicians' tools. " + NON_DIAGNOSTIC_NOTICE)
    p.add_argument("log", type=Path, metavar="LOG")
    p.add_argument("--identity", type=Path, required=True, help="identity file that can read it")
    p.add_argument("--format", choices=FORMATS, default="csv",
                   help="csv; wfdb (needs ecgmon[wfdb]); edf = EDF+ (needs ecgmon[edf])")
    p.add_argument("--from", dest="start", help="start time, ISO 8601 (local unless offset given)")
    p.add_argument("--to", dest="end", help="end time, ISO 8601")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--passphrase-file", type=Path, help="passphrase from a file (for scripts)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    identity = load_identity_file(args.identity, read_passphrase(args.passphrase_file))
    bar = ProgressBar(f"export {args.format}")
    result = export(args.log, identity, args.format, args.out, start_ns=start, end_ns=end,
                    progress=bar.update)
    print(f"exported {result.samples} ECG samples, {result.beats} beats, {result.events} events "
          f"to {args.out}: " + ", ".join(p.name for p in result.files))
    return 0
