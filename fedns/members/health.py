"""Member health: probe ``/readyz`` (falling back to ``/healthz``) and damp the flips.

:class:`Damper` is the pure rule (DESIGN.md: 3 failures to go down, 1 success to
come back); :class:`Probe` runs it on an interval against a member's API server and
keeps the state, the last error and the probe latency for status and metrics.  A
probe is one GET on the member's :mod:`transport` (its session, its credentials) with
a short timeout of its own and no retries: a hung member counts as a failed probe
after one timeout, not after several.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from fedns.members import transport as transport_mod


@dataclasses.dataclass
class Damper:
    """Ready until ``fall`` failures in a row; back after ``rise`` successes in a row."""

    fall: int = 3
    rise: int = 1
    ready: bool = False
    _failures: int = 0
    _successes: int = 0

    def observe(self, ok: bool) -> bool:
        """Record one probe result; returns True when the state flipped."""
        if ok:
            self._failures = 0
            self._successes += 1
            if not self.ready and self._successes >= self.rise:
                self.ready = True
                return True
        else:
            self._successes = 0
            self._failures += 1
            if self.ready and self._failures >= self.fall:
                self.ready = False
                return True
        return False


class Probe:
    """Probes one member every ``interval`` seconds; ``on_flip(ready)`` on each change."""

    def __init__(
        self,
        transport: transport_mod.Transport,
        interval: float = 1.0,
        timeout: float = 2.0,
        damper: Damper | None = None,
        on_flip: Callable[[bool], None] | None = None,
    ) -> None:
        self._transport = transport
        self.interval, self.timeout = interval, timeout
        self.damper = damper or Damper()
        self._on_flip = on_flip or (lambda ready: None)
        self.path = "/readyz"
        self.last_error = ""
        self.latency = 0.0
        self.probes = 0
        self.first = asyncio.Event()  # set after the first probe result

    @property
    def ready(self) -> bool:
        return self.damper.ready

    async def _get(self, path: str) -> None:
        await self._transport.request("GET", path, accept="text/plain", timeout=self.timeout,
                                      retries=0)

    async def check(self) -> None:
        """One probe; raises on failure."""
        try:
            await self._get(self.path)
        except transport_mod.StatusError as err:
            if err.status == 404 and self.path == "/readyz":
                self.path = "/healthz"  # older or minimal servers
                await self._get(self.path)
            else:
                raise

    async def probe_once(self) -> bool:
        start = time.monotonic()
        try:
            await self.check()
            ok, self.last_error = True, ""
        except Exception as err:  # noqa: BLE001 - any failure counts as not ready
            ok = False
            self.last_error = transport_mod.describe(err)
        self.latency = time.monotonic() - start
        self.probes += 1
        if self.damper.observe(ok):
            self._on_flip(self.damper.ready)
        self.first.set()
        return ok

    async def run(self) -> None:
        while True:
            await self.probe_once()
            await asyncio.sleep(self.interval)
