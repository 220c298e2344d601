"""Getting a passphrase from a person (prompt) or a script (file, environment).

The passphrase is returned to the caller and never logged or echoed.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from monitor.store.errors import IdentityError

PASSPHRASE_ENV = "ECGMON_PASSPHRASE"


def read_passphrase(
    passphrase_file: Path | None = None, *, confirm: bool = False, prompt: str = "Passphrase: "
) -> str:
    """From `passphrase_file` (first line), else $ECGMON_PASSPHRASE, else a hidden prompt."""
    if passphrase_file is not None:
        try:
            lines = passphrase_file.read_text().splitlines()
        except OSError as exc:
            raise IdentityError(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise IdentityError(f"passphrase file {passphrase_file} is empty")
        return lines[0]
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    try:
        first = getpass.getpass(prompt)
    except EOFError:
        raise IdentityError("no passphrase given (no terminal to ask on)") from None
    if not first:
        raise IdentityError("an empty passphrase is not allowed")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise IdentityError("the two passphrases differ")
    return first
