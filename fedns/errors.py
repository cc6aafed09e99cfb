"""The root of every error fedns raises on purpose, and the two retry axes.

Stdlib only, so the pure packages (ipam, placement, records, ...) may subclass it
without importing any I/O.  Each package adds narrow subclasses whose docstring is
the message a user sees; ``str(err)`` falls back to that docstring.
"""

from __future__ import annotations

import os


class FednsError(Exception):
    """fedns failed."""

    def __str__(self) -> str:
        text = super().__str__()
        if text:
            return text
        doc = (type(self).__doc__ or type(self).__name__).strip()
        return doc.splitlines()[0]


class UsageError(FednsError):
    """The command line or an input file is wrong (exit code 2)."""


class RefusedError(FednsError):
    """The operation was refused (exit code 1)."""


class TemporaryError(FednsError):
    """A retryable failure: the caller should try again after ``delay`` seconds."""

    def __init__(self, message: str = "", delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(FednsError):
    """A failure that retrying will not fix: report it and do not retry."""


class CannotListen(UsageError, OSError):
    """An address to listen on is taken or not allowed: the config or command line
    must name another (exit 2; an OSError too, for callers that handle socket
    errors)."""

    @classmethod
    def because(cls, where: str, err: OSError) -> CannotListen:
        """``cannot listen on WHERE: REASON``, the reason as the OS words it."""
        reason = os.strerror(err.errno) if err.errno else str(err)
        return cls(f"cannot listen on {where}: {reason}")
