"""The errors Store-backed IPAM raises on purpose; each docstring is the message.

Pool changes that would strand live addresses raise ``ipam.errors.PoolInUse`` and
invalid pools ``ipam.errors.PoolInvalid``, as the pure core does.
"""

from __future__ import annotations

from fedns import errors


class NotStarted(errors.FednsError):
    """IPAM has not been started: call start() first."""


class PoolNotFound(errors.RefusedError):
    """The pool does not exist."""


class PoolFileInvalid(errors.UsageError):
    """The pool file cannot be read."""


class PoolBusy(errors.TemporaryError):
    """Another change to the pool is in progress; try again."""


class Contended(errors.TemporaryError):
    """Other writers kept changing the same keys; try again."""
