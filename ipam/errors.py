"""The errors ipam raises on purpose; each docstring is the message a user sees.

Input problems are ``UsageError`` (exit code 2), decisions against the current state
are ``RefusedError`` (exit code 1).  Allocation refusals for a Service are not
exceptions: ``allocator.allocate`` returns an ``allocator.Refusal`` value instead.
"""

from __future__ import annotations

from fedns import errors


class BlockInvalid(errors.UsageError):
    """The text is not a valid CIDR, range or address."""


class AddressInvalid(errors.UsageError):
    """The text is not a valid IP address."""


class PoolInvalid(errors.UsageError):
    """The pool definition is invalid."""


class RequestInvalid(errors.UsageError):
    """The Service's address request is invalid."""


class PoolDuplicate(errors.RefusedError):
    """Two pools have the same name."""


class PoolOverlap(errors.RefusedError):
    """Two pools of the same site overlap."""


class AddressNotInPool(errors.RefusedError):
    """The address is not one the pool hands out."""


class AddressNotFree(errors.RefusedError):
    """The address is already allocated."""


class AddressNotAllocated(errors.RefusedError):
    """The address is not allocated, so it cannot be released."""


class PoolExhausted(errors.RefusedError):
    """The pool has no free address."""


class AllocationConflict(errors.RefusedError):
    """The allocation contradicts one already recorded."""


class PoolInUse(errors.RefusedError):
    """The pool change would strand addresses in use."""
