"""`ecgmon log verify|copy|purge`: check, copy and crypto-shred the encrypted log."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.progress import ProgressBar
from monitor.store import paths
from monitor.store.keys import load_identity_file
from monitor.store.maintenance import purge_before
from monitor.store.passphrase import read_passphrase
from monitor.store.reader import LogReader
from monitor.store.timefmt import format_ns, parse_time


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("log", help="verify or purge the encrypted log")
    sub = parser.add_subparsers(dest="log_command", metavar="ACTION", required=True)

    p = sub.add_parser("verify", help="check the log's chain (everything with --identity)",
                       description="Without a key: structure, sequence numbers and segment "
                       "links. With --identity: every record is authenticated and decoded. "
                       "Exit code 0 when intact, 1 when damaged.")
    p.add_argument("log", type=Path, nargs="?", help="log file (default: data dir)")
    p.add_argument("--identity", type=Path, help="identity file that can read the log")
    p.add_argument("--passphrase-file", type=Path, help="passphrase from a file (for scripts)")
    p.set_defaults(func=run_verify)

    p = sub.add_parser("copy", help="a consistent copy of the log, e.g. for a clinician",
                       description="Copies the log, including records the running daemon "
                       "has not yet moved out of SQLite's WAL file. The copy is as "
                       "encrypted as the log.")
    p.add_argument("log", type=Path, nargs="?", help="log file (default: data dir)")
    p.add_argument("--out", type=Path, required=True, help="file to create")
    p.set_defaults(func=run_copy)

    p = sub.add_parser("purge", help="make all data before DATE unreadable for good",
                       description="Deletes the wrapped keys of every segment that ends before "
                       "DATE (crypto-shredding). The identity is needed to see segment times.")
    p.add_argument("--before", required=True, help="ISO date/time, local unless an offset is given")
    p.add_argument("--log", type=Path, help="log file (default: data dir)")
    p.add_argument("--identity", type=Path, help="patient identity file (default: config dir)")
    p.add_argument("--passphrase-file", type=Path, help="passphrase from a file (for scripts)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run_purge)


def run_verify(args: argparse.Namespace) -> int:
    log_path = args.log or paths.default_log_path()
    identity = None
    if args.identity is not None:
        identity = load_identity_file(args.identity, read_passphrase(args.passphrase_file))
    with LogReader(log_path) as reader:
        report = reader.verify(identity, progress=ProgressBar("verify").update)
    print(report.render())
    return 0 if report.ok else 1


def run_copy(args: argparse.Namespace) -> int:
    log_path = args.log or paths.default_log_path()
    with LogReader(log_path) as reader:
        count = reader.record_count()
        reader.copy_to(args.out)
    print(f"copied {count} records of {log_path} to {args.out}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    before = parse_time(args.before)
    log_path = args.log or paths.default_log_path()
    identity_path = args.identity or paths.default_identity_path()
    identity = load_identity_file(identity_path, read_passphrase(args.passphrase_file))
    if not args.yes:
        answer = input(f"Destroy, for good, all data in {log_path} before "
                       f"{format_ns(before)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing purged")
            return 1
    shredded = purge_before(log_path, identity, before)
    if shredded:
        print(f"shredded {len(shredded)} segment(s): {', '.join(map(str, shredded))}")
    else:
        print("no segment lies entirely before that time: nothing purged")
    return 0
