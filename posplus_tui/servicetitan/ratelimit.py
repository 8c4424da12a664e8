"""A client-side token bucket so a busy counter stays under ServiceTitan's per-tenant limit."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Hashable

__all__ = ["RateLimiter", "shared_limiter"]


class RateLimiter:
    """At most ``rate`` calls per second on average, ``burst`` at once; waiters go in order.

    ``rate=None`` (or ≤ 0) switches limiting off.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst if burst is not None else min(10.0, rate or 1.0))
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._lock: asyncio.Lock | None = None

    def _refill(self) -> None:
        now = self._clock()
        assert self.rate is not None
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until one call may go out."""
        if self.rate is None:
            return
        self._refill()
        if self._tokens >= 1 and (self._lock is None or not self._lock.locked()):
            self._tokens -= 1
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, RateLimiter]] = (
    weakref.WeakKeyDictionary()
)


def shared_limiter(key: Hashable, rate: float | None, burst: float | None) -> RateLimiter:
    """One limiter per (tenant, app key, settings) and event loop, so several clients in one app
    (lookup, reconcile, sync) share the tenant's budget instead of each spending all of it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return RateLimiter(rate, burst=burst)
    per_loop = _SHARED.setdefault(loop, {})
    limiter = per_loop.get((key, rate, burst))
    if limiter is None:
        limiter = per_loop[(key, rate, burst)] = RateLimiter(rate, burst=burst)
    return limiter
