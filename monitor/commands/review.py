"""`ecgmon review LOG --identity clinician.key`: the clinician's view of a patient's log.

Opens the encrypted log with the clinician's identity (the passphrase is asked once,
used to open the identity and not kept), then shows the time line of episodes and
alerts, the raw ECG strip around each, beat statistics, and exports the strip on
screen as CSV (`e`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.errors import EcgmonError, InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review",
        help="clinician review of an encrypted log: episodes, strips, beat statistics, export",
        description="Open a log copied from a patient with the clinician identity it was "
        "encrypted to. The findings are non-diagnostic and belong in front of a clinician.",
    )
    parser.add_argument("log", type=Path, metavar="LOG", help="the encrypted log file")
    parser.add_argument(
        "--identity",
        type=Path,
        required=True,
        help="identity file that can read the log (e.g. clinician.key)",
    )
    parser.add_argument(
        "--passphrase-file", type=Path, help="passphrase from a file (for scripts; default: ask)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("ecgmon-review-export"),
        help="where `e` exports strips (default ./ecgmon-review-export)",
    )
    parser.add_argument("--light", action="store_true", help="light theme")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from monitor.store.keys import load_identity_file
        from monitor.store.passphrase import read_passphrase
    except ImportError as exc:
        raise EcgmonError(
            "review needs the encrypted log (monitor.store), which this build lacks"
        ) from exc
    from monitor.tui.logview import load_log_view
    from monitor.tui.review import ReviewApp, export_with_store

    if not args.log.is_file():
        raise InputError(f"no such log: {args.log}")
    identity = load_identity_file(args.identity, read_passphrase(args.passphrase_file))
    view = load_log_view(args.log, identity)
    title = f"review: {args.log.name}  ({view.duration_s / 3600:.1f} h)"
    ReviewApp(
        view, title, export_with_store(args.log, identity, args.out), dark=not args.light
    ).run()
    return 0
