"""Every kind of posting, against the sandbox over real HTTP."""

from __future__ import annotations

from posplus_tui.domain.money import Money
from posplus_tui.ledger import Ledger
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices
from tests.reconcile.ledgerdata import add_approved


def outbox_state(ledger: Ledger, outbox_id: int) -> tuple[str, str | None, str | None]:
    from sqlalchemy import select

    from posplus_tui.ledger.tables.outbox import OutboxRow

    o = OutboxRow.__table__
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(o.c.state, o.c.st_payment_id, o.c.last_error).where(o.c.id == outbox_id)
        ).one()
    return row.state, row.st_payment_id, row.last_error


def txn_state(ledger: Ledger, txn_id: int) -> str:
    from sqlalchemy import select

    from posplus_tui.ledger.tables.transactions import Transaction

    t = Transaction.__table__
    with ledger.engine.connect() as conn:
        return conn.execute(select(t.c.state).where(t.c.id == txn_id)).scalar_one()


def payments_with(sandbox: Sandbox, marker: str) -> list:  # type: ignore[type-arg]
    return [
        p
        for p in sandbox.store.payment_list
        if marker in (p.memo or "") or marker == (p.export_id or "")
    ]


async def test_sale_and_deposit_post_once_and_verify(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    (inv1, num1, bal1), (inv2, num2, bal2) = unpaid_invoices(sandbox, 2)
    sale = add_approved(ledger, invoice_id=inv1, invoice_number=num1, cents=bal1)
    deposit = add_approved(
        ledger, invoice_id=inv2, invoice_number=num2, cents=2_500, kind="deposit", tender="ach"
    )
    seen: list[ReconcileEvent] = []
    worker = make_worker(ledger, client)
    worker.bus.subscribe(seen.append)

    progress = await worker.drain_once()

    assert (progress.posted, progress.verified, progress.needs_attention) == (2, 2, 0)
    for row, inv_id, cents in ((sale, inv1, bal1), (deposit, inv2, 2_500)):
        state, payment_id, _ = outbox_state(ledger, row.outbox_id)
        assert state == "verified"
        [payment] = payments_with(sandbox, row.marker)
        assert str(payment.id) == payment_id
        assert payment.splits == [(inv_id, cents)]
        assert payment.type_id == sandbox.cases["pos_plus_type_id"]
        assert payment.export_id == row.marker and payment.memo.startswith(row.marker)
        assert txn_state(ledger, row.transaction_id) == "reconciled"
    assert sandbox.store.invoices[inv1].balance_cents == 0
    assert sandbox.store.invoices[inv2].balance_cents == bal2 - 2_500
    kinds = [(e.outbox_id, e.kind) for e in seen]
    for row in (sale, deposit):
        steps = [k for oid, k in kinds if oid == row.outbox_id]
        assert steps == [EventKind.QUEUED, EventKind.POSTING, EventKind.POSTED, EventKind.VERIFIED]
    verified = [e for e in seen if e.kind == EventKind.VERIFIED and e.outbox_id == sale.outbox_id]
    assert verified[0].invoice_number == num1 and verified[0].amount == Money(bal1)
    # the history survives: it is read back from the ledger
    history = ReconcileStore(ledger.engine).history()
    assert [(e.outbox_id, e.kind) for e in history] == kinds


async def test_refund_on_the_invoice_and_void_deactivates(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    (inv1, num1, bal1), (inv2, num2, _bal2) = unpaid_invoices(sandbox, 2)
    sale1 = add_approved(ledger, invoice_id=inv1, invoice_number=num1, cents=10_000)
    sale2 = add_approved(ledger, invoice_id=inv2, invoice_number=num2, cents=5_000)
    worker = make_worker(ledger, client)
    await worker.drain_once()
    refund = add_approved(
        ledger, invoice_id=inv1, invoice_number=num1, cents=3_000, kind="refund", parent=sale1
    )
    void = add_approved(
        ledger, invoice_id=inv2, invoice_number=num2, cents=5_000, kind="void", parent=sale2
    )
    progress = await worker.drain_once()
    assert progress.verified == 2 and progress.needs_attention == 0

    [neg] = payments_with(sandbox, refund.marker)
    assert neg.splits == [(inv1, -3_000)] and neg.active
    assert sandbox.store.invoices[inv1].balance_cents == bal1 - 10_000 + 3_000
    state, _, _ = outbox_state(ledger, refund.outbox_id)
    assert state == "verified"

    sale2_pid = outbox_state(ledger, sale2.outbox_id)[1]
    voided = sandbox.store.payments[int(sale2_pid)]
    assert voided.active is False and void.marker in voided.memo
    assert outbox_state(ledger, void.outbox_id)[:2] == ("verified", sale2_pid)
    assert [p for p in payments_with(sandbox, sale2.marker)] == [voided]


async def test_refund_goes_to_an_adjustment_invoice_when_the_balance_rules_require_it(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    [(inv, num, _bal)] = unpaid_invoices(sandbox, 1)
    sale = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=8_000)
    worker = make_worker(ledger, client)
    await worker.drain_once()
    # Someone deactivates our payment by hand in ServiceTitan: the invoice shows nothing paid, so
    # a negative payment on it would exceed what was paid.
    pid = int(outbox_state(ledger, sale.outbox_id)[1] or 0)
    await client.void_payment(pid)
    refund = add_approved(
        ledger, invoice_id=inv, invoice_number=num, cents=8_000, kind="refund", parent=sale
    )
    progress = await worker.drain_once()
    assert progress.verified == 1, outbox_state(ledger, refund.outbox_id)
    [neg] = payments_with(sandbox, refund.marker)
    [(adj_id, cents)] = neg.splits
    assert cents == -8_000 and adj_id != inv
    adjustment = sandbox.store.invoices[adj_id]
    assert adjustment.adjustment_to_id == inv and adjustment.balance_cents == 0


async def test_void_of_a_sale_not_yet_posted_cancels_both(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    [(inv, num, bal)] = unpaid_invoices(sandbox, 1)
    sale = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=4_000)
    void = add_approved(
        ledger, invoice_id=inv, invoice_number=num, cents=4_000, kind="void", parent=sale
    )
    seen: list[ReconcileEvent] = []
    worker = make_worker(ledger, client)
    worker.bus.subscribe(seen.append)
    progress = await worker.drain_once()
    assert progress.posted == 0 and progress.cancelled == 2
    assert outbox_state(ledger, sale.outbox_id)[0] == "cancelled"
    assert outbox_state(ledger, void.outbox_id)[0] == "cancelled"
    assert payments_with(sandbox, sale.marker) == []
    assert sandbox.store.invoices[inv].balance_cents == bal
    assert {e.kind for e in seen} == {EventKind.CANCELLED}
    assert ReconcileStore(ledger.engine).counts() == {"cancelled": 2}
