"""The in-app background worker, end to end: a clerk looks an invoice up, the payment engine
charges it on the simulated terminal, and the reconcile service (started as a background task,
woken by the approval) posts and verifies it — then a void and a refund, the same way."""

from __future__ import annotations

import asyncio

import pytest

import drivers
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.ledger import Ledger
from posplus_tui.services.errors import SupervisorRequired
from posplus_tui.services.lookup import LookupService
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.service import ReconcileService
from posplus_tui.services.reconcile.st_poster import ServiceTitanPoster
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import FAST, unpaid_invoices
from tests.reconcile.test_posting import payments_with


async def wait_for(
    stream: asyncio.Queue[ReconcileEvent], kind: EventKind, ref: str, timeout: float = 20
) -> ReconcileEvent:
    async def look() -> ReconcileEvent:
        while True:
            event = await stream.get()
            if event.kind == kind and event.transaction_ref == ref:
                return event
            assert event.kind not in (EventKind.NEEDS_ATTENTION, EventKind.MISMATCH), event

    return await asyncio.wait_for(look(), timeout)


async def test_charge_void_and_refund_flow_through_the_background_worker(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    operators = OperatorService(ledger, station="Counter 1", pin_cost=2)
    admin = operators.add_sync("Alice Admin", "admin", "1111")
    supervisor = operators.add_sync("Sam Super", "supervisor", "2222", by=admin)
    clerk = operators.add_sync("Carl Clerk", "clerk", "3333", by=admin)
    terminal = drivers.open_terminal("sim://?timeout=0.5")
    payments = PaymentService(ledger, terminal, operators, station="Counter 1")
    service = ReconcileService(
        ledger,
        ServiceTitanPoster(client, "POS+"),
        station="Counter 1",
        backoff=FAST,
        unknown_backoff=FAST,
        dependency_wait=0.05,
    )
    seen: asyncio.Queue[ReconcileEvent] = asyncio.Queue()
    service.subscribe(seen.put_nowait)
    service.follow_payments(payments)
    await service.start()
    try:
        (inv1, _, _), (inv2, _, _) = unpaid_invoices(sandbox, 2, min_cents=20_000)
        lookup = LookupService(ledger.engine, client)
        facts = []
        for inv in (inv1, inv2):
            detail = await lookup.open(inv)
            facts.append(
                InvoiceFacts(
                    invoice_id=str(detail.id),
                    number=detail.number,
                    customer_id=str(detail.customer_id),
                    balance=detail.balance,
                    job_number=detail.job_number,
                )
            )
        sale = await payments.charge(facts[0], operator=clerk, amount=Money(12_345))
        assert sale.approved
        verified = await wait_for(seen, EventKind.VERIFIED, sale.ecr_ref)
        assert verified.invoice_number == facts[0].number and verified.amount == Money(12_345)
        [posted] = payments_with(sandbox, f"POSPLUS-{sale.ecr_ref}")
        assert posted.splits == [(inv1, 12_345)] and posted.active

        other = await payments.charge(facts[1], operator=clerk, amount=Money(5_000))
        await wait_for(seen, EventKind.VERIFIED, other.ecr_ref)
        void = await payments.void(other.ecr_ref, operator=supervisor)
        await wait_for(seen, EventKind.VERIFIED, void.ecr_ref)
        [voided] = payments_with(sandbox, f"POSPLUS-{other.ecr_ref}")
        assert voided.active is False

        refund = await payments.refund(sale.ecr_ref, Money(2_345), operator=supervisor)
        await wait_for(seen, EventKind.VERIFIED, refund.ecr_ref)
        [neg] = payments_with(sandbox, f"POSPLUS-{refund.ecr_ref}")
        assert neg.splits == [(inv1, -2_345)]

        summary = await service.summary()
        assert summary.posted.count == 4 and summary.pending.count == 0
        assert summary.by_method["card"].amount == Money(12_345 + 5_000 - 5_000 - 2_345)
        history = await service.history()
        assert [e.kind for e in history if e.transaction_ref == sale.ecr_ref] == [
            EventKind.QUEUED,
            EventKind.POSTING,
            EventKind.POSTED,
            EventKind.VERIFIED,
        ]
        # a clerk cannot change postings; a supervisor's approval is needed
        with pytest.raises(SupervisorRequired):
            await service.retry_now(1, operator=clerk)
    finally:
        await service.stop()
        await terminal.close()
    assert not service.running
