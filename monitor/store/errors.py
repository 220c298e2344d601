"""Errors of the encrypted log, each a one-line message the CLI can print as is."""

from __future__ import annotations

from monitor.errors import EcgmonError


class StoreError(EcgmonError):
    """Base of every error raised by monitor.store."""


class IdentityError(StoreError):
    """An identity file that cannot be used: missing, truncated, loose permissions."""


class PassphraseError(IdentityError):
    """The passphrase does not open the identity file."""


class KeyFormatError(StoreError):
    """A public key string that is malformed or fails its checksum (a typo)."""


class NotALogError(StoreError):
    """The file is not an ecgmon log."""


class FormatVersionError(StoreError):
    """The log or identity was written by a newer ecgmon than this one."""


class LogLockedError(StoreError):
    """Another writer already holds the log."""


class WrongIdentityError(StoreError):
    """The identity is not a recipient of the log (or of the segment asked for)."""


class TamperError(StoreError):
    """A record or segment failed authentication or breaks the chain."""


class StorageFullError(StoreError):
    """The disk (or file size limit) is full: records are held in memory until it frees."""
