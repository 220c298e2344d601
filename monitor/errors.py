"""The error types ecgmon raises for bad input.

Every user-facing failure is one of these, so the CLI can print a clear one-line
message instead of a traceback, and callers can catch exactly what they expect.
"""


class EcgmonError(Exception):
    """Base of every error ecgmon reports to the user as a one-line message."""


class InputError(EcgmonError):
    """A recording or argument that cannot be analysed (missing, unknown format, flat, ...)."""


class MissingExtraError(EcgmonError):
    """An optional dependency is needed for this feature but is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: install it with "
            f"pip install 'ecgmon[{extra}]'"
        )
        self.package = package
        self.extra = extra
