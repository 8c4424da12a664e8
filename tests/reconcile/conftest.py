"""Reconcile fixtures: a real SQLite ledger file, the sandbox over real HTTP, and a worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.services.reconcile.backoff import Backoff
from posplus_tui.services.reconcile.events import EventBus
from posplus_tui.services.reconcile.st_poster import ServiceTitanPoster
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.services.reconcile.worker import ReconcileWorker
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox

#: Fast back-off for tests: the behaviour is the same, the waits are short.
FAST = Backoff(base=0.05, factor=2, cap=0.5, jitter=0)


@pytest.fixture
def ledger(migrated_sqlite_url: str) -> Iterator[Ledger]:
    led = open_ledger(migrated_sqlite_url)
    yield led
    led.dispose()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=1)


@pytest.fixture
def base_url(sandbox: Sandbox) -> Iterator[str]:
    with sandbox.serve_in_thread() as url:
        yield url


@pytest.fixture
async def client(sandbox: Sandbox, base_url: str) -> AsyncIterator[ServiceTitanClient]:
    """A client over real HTTP to the served sandbox (short timeouts, fast internal retries)."""
    st = sandbox.client_for(
        base_url, timeout=3.0, backoff_base=0.01, backoff_cap=0.05, max_retry_after=0.0
    )
    async with st:
        yield st


def make_worker(ledger: Ledger, client: ServiceTitanClient, **kw: object) -> ReconcileWorker:
    kw.setdefault("backoff", FAST)
    kw.setdefault("unknown_backoff", FAST)
    kw.setdefault("dependency_wait", 0.05)
    kw.setdefault("doubt_wait", 0.05)
    kw.setdefault("station", "Counter 1")
    return ReconcileWorker(
        ReconcileStore(ledger.engine),
        ServiceTitanPoster(client, "POS+"),
        bus=kw.pop("bus", None) or EventBus(),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def unpaid_invoices(
    sandbox: Sandbox, n: int, min_cents: int = 10_000
) -> list[tuple[int, str, int]]:
    """``n`` open, non-adjustment invoices as (id, number, balance cents)."""
    out = [
        (inv.id, inv.number, inv.balance_cents)
        for inv in sandbox.store.invoice_list
        if not inv.deleted and inv.adjustment_to_id is None and inv.balance_cents >= min_cents
    ]
    assert len(out) >= n, "the sandbox seed has too few open invoices"
    return out[:n]
