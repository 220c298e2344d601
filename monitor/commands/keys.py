"""`ecgmon keys ...`: patient and clinician identities, recipients, sharing old data."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.store import paths
from monitor.store.keys import Identity, Recipient, load_identity_file, write_identity_file
from monitor.store.maintenance import share_segments
from monitor.store.passphrase import read_passphrase
from monitor.store.recipients import add_recipient, load_recipients, remove_recipient


def _passphrase_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passphrase-file", type=Path,
                        help="read the passphrase from this file's first line (for scripts); "
                        "default: $ECGMON_PASSPHRASE, else a hidden prompt")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="manage identities and recipients",
                                   description="Identities (private keys, passphrase-protected) "
                                   "read the log; recipients (public keys) are who new data is "
                                   "encrypted to.")
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    p = sub.add_parser("init", help="create the patient identity and make it a recipient")
    p.add_argument("--out", type=Path,
                   help=f"identity file (default: config dir/{paths.IDENTITY_FILENAME})")
    p.add_argument("--force", action="store_true", help="overwrite an existing identity file")
    _passphrase_arg(p)
    p.set_defaults(func=run_init)

    p = sub.add_parser("clinician-new",
                       help="create a clinician identity (on the clinician's machine)")
    p.add_argument("--out", type=Path, required=True, help="identity file to create")
    p.add_argument("--label", default="", help="name shown to the patient, e.g. 'Dr X'")
    p.add_argument("--force", action="store_true", help="overwrite an existing identity file")
    _passphrase_arg(p)
    p.set_defaults(func=run_clinician_new)

    p = sub.add_parser("add-recipient", help="encrypt future data to this public key too")
    p.add_argument("public_key", metavar="PUBKEY")
    p.add_argument("--label", required=True, help="who it is, e.g. 'Dr X'")
    p.set_defaults(func=run_add)

    p = sub.add_parser("remove-recipient", help="stop encrypting future data to a key")
    p.add_argument("key_or_label", metavar="PUBKEY|LABEL")
    p.set_defaults(func=run_remove)

    p = sub.add_parser("list", help="show the recipients of future data")
    p.set_defaults(func=run_list)

    p = sub.add_parser("share", help="let a new recipient read data already in the log")
    p.add_argument("--to", required=True, metavar="PUBKEY", help="the clinician's public key")
    p.add_argument("--identity", type=Path, help="patient identity file (default: config dir)")
    p.add_argument("--log", type=Path, help="log file (default: data dir)")
    _passphrase_arg(p)
    p.set_defaults(func=run_share)


def run_init(args: argparse.Namespace) -> int:
    out = args.out or paths.default_identity_path()
    passphrase = read_passphrase(args.passphrase_file, confirm=True)
    identity = Identity.generate("patient", "patient")
    write_identity_file(out, identity, passphrase, force=args.force)
    add_recipient(paths.recipients_path(), identity.recipient)
    print(f"patient identity written to {out} (keep it and its passphrase safe)")
    print(f"public key: {identity.recipient.text}")
    return 0


def run_clinician_new(args: argparse.Namespace) -> int:
    passphrase = read_passphrase(args.passphrase_file, confirm=True)
    identity = Identity.generate("clinician", args.label)
    write_identity_file(args.out, identity, passphrase, force=args.force)
    print(f"clinician identity written to {args.out}")
    print(f"public key (give this to the patient): {identity.recipient.text}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    recipient = Recipient.parse(args.public_key, args.label)
    added = add_recipient(paths.recipients_path(), recipient)
    print(f"{'added' if added else 'already a recipient:'} {args.label} {recipient.text}")
    if added:
        print("new data will be readable by this key; to share older data run "
              f"'ecgmon keys share --to {recipient.text}'")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    removed = remove_recipient(paths.recipients_path(), args.key_or_label)
    print(f"removed {removed.label} {removed.text}: it can still read data already shared "
          "with it; new data stops being encrypted to it from the daemon's next segment "
          "(within the hour)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    recipients = load_recipients(paths.recipients_path())
    if not recipients:
        print("no recipients yet: run 'ecgmon keys init'")
    for r in recipients:
        print(f"{r.text}  {r.label}")
    return 0


def run_share(args: argparse.Namespace) -> int:
    recipient = Recipient.parse(args.to)
    identity_path = args.identity or paths.default_identity_path()
    identity = load_identity_file(identity_path, read_passphrase(args.passphrase_file))
    log_path = args.log or paths.default_log_path()
    result = share_segments(log_path, identity, recipient)
    print(f"shared {result.shared} segment(s) of {log_path} with {recipient.text}"
          + (f"; {result.not_readable} segment(s) this identity cannot open were skipped"
             if result.not_readable else ""))
    return 0
