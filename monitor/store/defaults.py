"""The daemon's and the TUI's one-liners: the log and recipients in their usual places."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.store import paths
from monitor.store.errors import StoreError
from monitor.store.reader import LogReader
from monitor.store.recipients import load_recipients
from monitor.store.writer import LogWriter


def open_writer(log_path: Path | None = None, **options: Any) -> LogWriter:
    """A writer on the default log (or `log_path`), encrypting to the configured recipients.

    The recipients file is read again at every segment rotation, so keys added or
    removed with `ecgmon keys` apply from the next segment (within the hour).
    """
    source = paths.recipients_path()
    recipients = load_recipients(source)
    if not recipients:
        raise StoreError("no recipients configured: run 'ecgmon keys init' first")
    options.setdefault("reload_recipients", lambda: load_recipients(source))
    return LogWriter(log_path or paths.default_log_path(), recipients, **options)


def open_reader(log_path: Path | None = None) -> LogReader:
    """A reader on the default log (or `log_path`); safe while the daemon writes."""
    return LogReader(log_path or paths.default_log_path())
