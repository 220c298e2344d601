"""The list of public keys future log data is encrypted to (config, public keys only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from monitor.store.errors import KeyFormatError, StoreError
from monitor.store.keys import Recipient

RECIPIENTS_VERSION = 1


def load_recipients(path: Path) -> list[Recipient]:
    """Recipients in `path`; an empty list when the file does not exist yet."""
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text())
        entries = doc["recipients"]
        if doc.get("version", 0) > RECIPIENTS_VERSION:
            raise StoreError(f"{path} was written by a newer ecgmon")
        return [Recipient.parse(e["public_key"], str(e.get("label", ""))) for e in entries]
    except KeyFormatError as exc:
        raise StoreError(f"{path}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise StoreError(f"{path} is not a valid recipients file") from None


def save_recipients(path: Path, recipients: list[Recipient]) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": RECIPIENTS_VERSION,
        "recipients": [{"public_key": r.text, "label": r.label} for r in recipients],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)


def add_recipient(path: Path, recipient: Recipient) -> bool:
    """Add unless present; True when it was added."""
    recipients = load_recipients(path)
    if any(r.public_key == recipient.public_key for r in recipients):
        return False
    recipients.append(recipient)
    save_recipients(path, recipients)
    return True


def remove_recipient(path: Path, key_or_label: str) -> Recipient:
    """Remove the recipient with this public key text or label; refuse to remove the last."""
    recipients = load_recipients(path)
    matches = [r for r in recipients if key_or_label in (r.text, r.label)]
    if not matches:
        raise StoreError(f"no recipient {key_or_label!r} in {path}")
    if len(matches) > 1:
        raise StoreError(f"several recipients are labelled {key_or_label!r}; give the public key")
    if len(recipients) == 1:
        raise StoreError("refusing to remove the last recipient: nobody could read new data")
    recipients.remove(matches[0])
    save_recipients(path, recipients)
    return matches[0]
