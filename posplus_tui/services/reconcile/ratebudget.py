"""One API rate budget per tenant, shared by every station on a PostgreSQL ledger.

ServiceTitan's limit (60 requests/s) is per app and tenant, not per station: two stations each
spending 60/s got 267 answers of 429 in 600 calls. Here the budget is a token bucket row in the
ledger (``st_rate_budget``), refilled by the database's own clock, so stations on different
computers agree on time. A station takes a few tokens per transaction (one round trip serves
several requests) and spends them at once. On SQLite one station is the whole budget: the
client's in-process limiter does the job.
"""

from __future__ import annotations

import asyncio
import logging
import math

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

#: Tokens taken per database round trip: small, so no station banks much of the budget.
CHUNK = 3

_ENSURE = text(
    "INSERT INTO st_rate_budget (key, tokens, rate, burst, stamp) "
    "VALUES (:key, :burst, :rate, :burst, clock_timestamp()) ON CONFLICT (key) DO NOTHING"
)
_LEVEL = text(
    "SELECT LEAST(burst, tokens + EXTRACT(EPOCH FROM (clock_timestamp() - stamp)) * rate) "
    "FROM st_rate_budget WHERE key = :key FOR UPDATE"
)
_SPEND = text(
    "UPDATE st_rate_budget SET tokens = :left, stamp = clock_timestamp(), rate = :rate, "
    "burst = :burst WHERE key = :key"
)


def budget_key(environment: str, tenant_id: int, app_fingerprint: str) -> str:
    """The bucket's name: one per (environment, tenant, app); the app key only as a hash."""
    return f"{environment}:{tenant_id}:{app_fingerprint}"


class LedgerRateBudget:
    """An async ``acquire()`` (what :class:`ServiceTitanClient` calls before each request)
    backed by the shared bucket row. ``rate`` is the tenant's requests per second."""

    def __init__(
        self, engine: Engine, key: str, rate: float, *, burst: float = 10.0, chunk: int = CHUNK
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the shared rate budget needs a PostgreSQL ledger")
        self.engine = engine
        self.key = key
        self.rate = float(rate)
        self.burst = max(1.0, min(float(burst), self.rate))
        self.chunk = max(1, chunk)
        self._local = 0
        self._lock = asyncio.Lock()
        self._ready = False

    async def acquire(self) -> None:
        """Wait until this station may send one request."""
        while True:
            if self._local > 0:
                self._local -= 1
                return
            async with self._lock:
                if self._local > 0:
                    continue
                granted, wait = await asyncio.to_thread(self._take)
                if granted:
                    self._local += granted
                    continue
            await asyncio.sleep(wait)

    def _take(self) -> tuple[int, float]:
        """Take up to ``chunk`` whole tokens; else none and how long until one is there."""
        params = {"key": self.key, "rate": self.rate, "burst": self.burst}
        with self.engine.begin() as conn:
            if not self._ready:
                conn.execute(_ENSURE, params)
                self._ready = True
            level = float(conn.execute(_LEVEL, params).scalar_one())
            granted = min(self.chunk, math.floor(level)) if level >= 1 else 0
            conn.execute(_SPEND, {**params, "left": level - granted})
        if granted:
            return granted, 0.0
        # wait for a whole chunk: fewer round trips, and the budget still refills evenly
        return 0, max(0.005, (min(self.chunk, self.burst) - level) / self.rate)
