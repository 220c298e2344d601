"""Encrypted local log: keys, recipients, records, export.

The API the daemon and the TUI use:

- writing (public keys only): `open_writer()` (default log, configured recipients) or
  `LogWriter(path, recipients)`; `.append(payload)` returns once the record is on disk
  (False while the disk is full: records wait in memory, `.status` says so)
- reading: `open_reader()` or `LogReader(path)`;
  `.records(identity, start_ns=..., end_ns=..., types=[RecordType.EPISODE, ...])` yields
  authenticated `StoredRecord`s (only the segments around a range are read);
  `.verify(identity=None)` -> `VerifyReport` (`.render()` is the CLI's report);
  `.copy_to(path)` for handing the log over while the daemon writes
- payloads to write: `EcgBlock.from_uv(t0_ns, fs, frame.samples_uv)`,
  `BeatBatch(stream_t0_ns, fs, beats)` (of `ClassifiedBeat`), `Event` (episode, alert,
  device, summary; a `kind` string and JSON-able data)
- keys: `Identity`, `Recipient`, `load_identity_file`, `write_identity_file`,
  `load_recipients`, `add_recipient`, `remove_recipient`
- maintenance: `share_segments`, `purge_before`; export: `export`
- locations: `paths.default_log_path()`, `paths.recipients_path()` (env overridable)
"""

from monitor.store import paths
from monitor.store.defaults import open_reader, open_writer
from monitor.store.errors import (
    FormatVersionError,
    IdentityError,
    KeyFormatError,
    LogLockedError,
    NotALogError,
    PassphraseError,
    StorageFullError,
    StoreError,
    TamperError,
    WrongIdentityError,
)
from monitor.store.export import ExportResult, export
from monitor.store.keys import (
    Identity,
    Recipient,
    load_identity_file,
    read_public_key_of_identity_file,
    write_identity_file,
)
from monitor.store.maintenance import purge_before, share_segments
from monitor.store.reader import LogReader, Position, Problem, StoredRecord, VerifyReport
from monitor.store.recipients import add_recipient, load_recipients, remove_recipient
from monitor.store.records import BeatBatch, EcgBlock, Event, Payload, RecordType
from monitor.store.writer import LogWriter, WriterStatus

__all__ = [
    "BeatBatch", "EcgBlock", "Event", "ExportResult", "FormatVersionError", "Identity",
    "IdentityError", "KeyFormatError", "LogLockedError", "LogReader", "LogWriter",
    "NotALogError", "PassphraseError", "Payload", "Position", "Problem", "Recipient",
    "RecordType", "StorageFullError", "StoreError", "StoredRecord", "TamperError",
    "VerifyReport", "WriterStatus", "WrongIdentityError", "add_recipient", "export",
    "load_identity_file", "load_recipients", "open_reader", "open_writer", "paths",
    "purge_before", "read_public_key_of_identity_file", "remove_recipient", "share_segments",
    "write_identity_file",
]
