"""The shared rate budget on a real PostgreSQL ledger: two stations' budgets on one key spend at
most the tenant's rate together (plus the burst), and nearly all of it; the key never holds the
app key itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.services.reconcile.factory import share_rate_budget
from posplus_tui.services.reconcile.ratebudget import LedgerRateBudget, budget_key
from posplus_tui.servicetitan.sandbox import Sandbox


@pytest.fixture
def pg_ledger(migrated_pg_url: str) -> Iterator[Ledger]:
    led = open_ledger(migrated_pg_url)
    yield led
    led.dispose()


@pytest.mark.postgres
async def test_two_stations_spend_one_budget_together(pg_ledger: Ledger) -> None:
    rate, seconds = 40.0, 2.0
    stations = [LedgerRateBudget(pg_ledger.engine, "sandbox:1:abc", rate) for _ in range(2)]
    counts = [0, 0]

    async def spend(k: int, until: float) -> None:
        while time.monotonic() < until:
            await stations[k].acquire()
            counts[k] += 1

    until = time.monotonic() + seconds
    await asyncio.gather(*(spend(k, until) for k in range(2) for _ in range(4)))
    total = sum(counts)
    most = rate * seconds + stations[0].burst + 2 * stations[0].chunk
    assert total <= most, counts
    assert total >= 0.8 * rate * seconds, counts
    assert min(counts) > 0.25 * total, counts  # both stations get a share


@pytest.mark.postgres
async def test_the_bundle_shares_the_budget_on_postgresql_only(
    pg_ledger: Ledger, tmp_path: Path
) -> None:
    sandbox = Sandbox(seed=1)
    async with sandbox.client() as client:
        assert share_rate_budget(pg_ledger, client)
        key = client._limiter.key  # type: ignore[union-attr]
        assert sandbox.credentials.app_key not in key
        assert key == budget_key("sandbox", client.tenant_id, client.app_key_fingerprint)
    sqlite = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite3'}")
    try:
        async with sandbox.client() as client:
            assert not share_rate_budget(sqlite, client)
    finally:
        sqlite.dispose()
