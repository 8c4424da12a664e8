"""Two stations on one real PostgreSQL ledger: each runs its own payment-link poller (its own
engine and Stripe client, as two counter PCs would); one customer payment is recorded once and
posted to ServiceTitan once, whichever poller (events or direct read) sees it first.

Skips, saying so, without ``POSPLUS_TEST_PG_URL`` (CI sets it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import StripeSandboxApp, serve_in_thread
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger.tables import OutboxRow, Transaction
from posplus_tui.ledger.tables.links import LinkEventClaim
from posplus_tui.services.links import LinkService
from posplus_tui.services.operators import OperatorService
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices

STATIONS = ("Counter 1", "Counter 2")
pytestmark = pytest.mark.postgres


@pytest.fixture
def ledgers(pg_url: str) -> Iterator[list[Ledger]]:
    """One ledger database, opened twice (a connection pool per station)."""
    opened = [open_ledger(pg_url) for _ in STATIONS]
    yield opened
    for led in opened:
        led.dispose()


async def test_two_pollers_on_postgresql_record_and_post_a_payment_once(
    ledgers: list[Ledger],
) -> None:
    stripe, servicetitan = StripeSandboxApp(), Sandbox(seed=1)
    ((inv_id, number, balance),) = unpaid_invoices(servicetitan, 1)
    invoice = InvoiceFacts(str(inv_id), number, "", Money(balance))
    operators = OperatorService(ledgers[0], station=STATIONS[0], pin_cost=16)
    admin = operators.add_sync("Alice Admin", "admin", "1111")
    clerk = operators.add_sync("Carl Clerk", "clerk", "3333", by=admin)
    with serve_in_thread(stripe) as stripe_url, servicetitan.serve_in_thread() as st_url:
        links = [
            LinkService(
                led,
                StripeGateway(stripe.secret_key, base_url=stripe_url),
                OperatorService(led, station=station, pin_cost=16),
                station=station,
            )
            for led, station in zip(ledgers, STATIONS, strict=True)
        ]
        link = await links[0].create(invoice, operator=clerk)
        await asyncio.gather(*(s.poll_once() for s in links))  # both cursors at the start
        paid = stripe.admin("POST", f"payment_links/{link.provider_link_id}/pay", {})
        assert paid["approved"]
        rounds = []
        for _ in range(3):  # events, then direct reads too, at the same moment on both
            for s in links:
                s._last_read = -1e9
            rounds += await asyncio.gather(*(s.poll_once() for s in links))
        assert sorted(ref for r in rounds for ref in r.paid) == [link.reference], rounds
        for s in links:
            assert (await s.link(link.id)).state is LinkStatus.PAID
        assert links[1].store.cursor() is not None  # the cursor moved, once, for both

        # Both stations' outbox workers drain at once: ServiceTitan gets one payment.
        async with servicetitan.client_for(st_url, timeout=3.0) as client:
            workers = [
                make_worker(led, client, station=station)
                for led, station in zip(ledgers, STATIONS, strict=True)
            ]
            await asyncio.gather(*(w.drain_once() for w in workers))
            posted = [
                p
                for p in await client.list_payments(applied_to_invoice_ids=[inv_id])
                if link.reference in (p.memo or "")
            ]
        for s in links:
            await s.aclose()
    assert [p.total for p in posted] == [Money(balance)]
    with ledgers[0].engine.connect() as conn:
        txns = conn.execute(
            select(func.count()).select_from(Transaction.__table__)  # type: ignore[arg-type]
        ).scalar_one()
        outbox = conn.execute(select(OutboxRow.__table__.c.state)).scalars().all()  # type: ignore[attr-defined]
        claims = (
            conn.execute(
                select(LinkEventClaim.__table__.c.event_id)  # type: ignore[attr-defined]
            )
            .scalars()
            .all()
        )
    assert txns == 1 and outbox == ["verified"]
    assert len(claims) == len(set(claims))  # each provider event handled by one station
