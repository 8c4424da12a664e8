"""Voiding a sale that never reached ServiceTitan: nothing is posted, and the void's own
transaction is settled (not left ``approved`` forever), with an event and an audit entry."""

from __future__ import annotations

from sqlalchemy import select

from posplus_tui.ledger import Ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.ledger.tables.audit import AuditEvent
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices
from tests.reconcile.ledgerdata import add_approved
from tests.reconcile.test_posting import outbox_state, payments_with


def _txn_state(ledger: Ledger, txn_id: int) -> str:
    t = Transaction.__table__
    with ledger.engine.connect() as conn:
        return str(conn.execute(select(t.c.state).where(t.c.id == txn_id)).scalar_one())


def _audited(ledger: Ledger, marker: str) -> list[str]:
    a = AuditEvent.__table__
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(a.c.action).where(a.c.subject == marker)).scalars()
        return list(rows)


async def test_void_claimed_with_its_unposted_sale_settles_the_void_transaction(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    [(inv, num, bal)] = unpaid_invoices(sandbox, 1)
    sale = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=4_000)
    void = add_approved(
        ledger, invoice_id=inv, invoice_number=num, cents=4_000, kind="void", parent=sale
    )
    progress = await make_worker(ledger, client).drain_once()
    assert progress.posted == 0 and payments_with(sandbox, sale.marker) == []
    assert sandbox.store.invoices[inv].balance_cents == bal
    assert outbox_state(ledger, void.outbox_id)[0] == "cancelled"
    assert _txn_state(ledger, void.transaction_id) == "reconciled"
    assert _audited(ledger, void.marker) == ["reconcile.nothing_to_post"]
    assert verify_chain_ok(ledger)


async def test_void_arriving_after_its_sale_was_cancelled_settles_too(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    [(inv, num, _)] = unpaid_invoices(sandbox, 1)
    sale = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=2_500)
    store = ReconcileStore(ledger.engine)
    store.cancel(sale.outbox_id, "Sam", "posted by hand elsewhere")
    void = add_approved(
        ledger, invoice_id=inv, invoice_number=num, cents=2_500, kind="void", parent=sale
    )
    seen: list[ReconcileEvent] = []
    worker = make_worker(ledger, client)
    worker.bus.subscribe(seen.append)
    await worker.drain_once()
    assert outbox_state(ledger, void.outbox_id)[0] == "cancelled"
    assert _txn_state(ledger, void.transaction_id) == "reconciled"
    assert "reconcile.nothing_to_post" in _audited(ledger, void.marker)
    assert any(e.kind == EventKind.CANCELLED and e.outbox_id == void.outbox_id for e in seen)
    assert payments_with(sandbox, void.marker) == []
    assert verify_chain_ok(ledger)


def verify_chain_ok(ledger: Ledger) -> bool:
    return verify(ledger.engine).ok
