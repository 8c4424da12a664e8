"""The same engine on PostgreSQL, and two stations racing on one shared ledger."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnState
from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services.errors import RefundTooLarge
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService

from .conftest import FAST_PIN_COST, Staff, invoice_facts, make_payments

S = TxnState


@pytest.fixture
def ledger_url(migrated_pg_url: str) -> str:
    return migrated_pg_url


async def test_every_kind_of_flow_on_postgresql(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators)
    sale = await pay.charge(invoice_facts("120.00"), operator=staff.clerk, save_card=True)
    assert sale.approved
    assert (await pay.charge(invoice_facts("10.01"), operator=staff.clerk)).state is S.DECLINED
    assert (await pay.charge(invoice_facts("10.05"), operator=staff.clerk)).is_partial
    assert (await pay.charge(invoice_facts("10.07"), operator=staff.clerk)).state is S.CANCELLED
    assert (await pay.charge(invoice_facts("10.09"), operator=staff.clerk)).state is S.APPROVED
    card = (await pay.list_cards("7001"))[0]
    cof = await pay.charge_card_on_file(invoice_facts("15.00"), card.id, operator=staff.clerk)
    ach = await pay.charge_ach(
        invoice_facts("16.00"), "011000015", "44443333", operator=staff.clerk
    )
    assert cof.approved and ach.approved
    await pay.refund(sale.ecr_ref, Money.parse("20"), operator=staff.supervisor)
    await pay.refund(sale.ecr_ref, Money.parse("30"), operator=staff.supervisor)
    assert await pay.refundable(sale.ecr_ref) == Money.parse("70")
    assert (await pay.void(cof.ecr_ref, operator=staff.supervisor)).approved
    await pay.batch_close(operator=staff.supervisor)
    assert await pay.recover() == []
    assert verify(ledger.engine).ok
    await terminal.close()


async def test_two_stations_refunding_the_same_sale_never_refund_more_than_captured(
    pg_url: str,
) -> None:
    """Two stations (own engines, own terminal connections, one shared terminal simulator and one
    PostgreSQL ledger) refund the same sales at the same moment. For each sale both ask for 60 of
    100: exactly one may succeed, the other is refused before reaching the terminal."""
    station_a = open_ledger(pg_url)
    station_b = open_ledger(pg_url)
    ops_a = OperatorService(station_a, station="Counter 1", pin_cost=FAST_PIN_COST)
    ops_b = OperatorService(station_b, station="Counter 2", pin_cost=FAST_PIN_COST)
    admin = ops_a.add_sync("Alice Admin", "admin", "1111")
    sup = ops_a.add_sync("Sam Super", "supervisor", "2222", by=admin)
    pay_a, term_a = make_payments(station_a, ops_a, "sim://race?timeout=2")
    pay_b, term_b = make_payments(station_b, ops_b, "sim://race?timeout=2", station="Counter 2")

    async def race(pay: PaymentService, ref: str) -> str:
        try:
            result = await pay.refund(ref, Money.parse("60"), operator=sup)
            return result.state.value
        except RefundTooLarge:
            return "refused"

    outcomes: list[list[str]] = []
    for i in range(6):
        # Each station charges its own invoice... and both refund the one sale at once.
        a_sale, _b_sale = await asyncio.gather(
            pay_a.charge(invoice_facts("100.00", invoice_id=f"9{i}"), operator=sup),
            pay_b.charge(invoice_facts("40.00", invoice_id=f"8{i}"), operator=sup),
        )
        results = await asyncio.gather(race(pay_a, a_sale.ecr_ref), race(pay_b, a_sale.ecr_ref))
        outcomes.append(sorted(results))
        assert await pay_a.refundable(a_sale.ecr_ref) == Money.parse("40")
    assert all(o == ["approved", "refused"] for o in outcomes), outcomes
    with station_a.engine.connect() as conn:
        over = conn.execute(
            text(
                "SELECT p.ecr_ref FROM transactions p JOIN transactions c ON c.parent_id = p.id "
                "WHERE c.kind = 'refund' AND c.state NOT IN ('declined','cancelled','failed',"
                "'not_found','discarded') GROUP BY p.ecr_ref, p.approved_cents "
                "HAVING sum(c.approved_cents) > p.approved_cents"
            )
        ).all()
    assert over == []
    sim = term_a.simulator  # type: ignore[attr-defined]
    refunds_sent = [r for r in sim.records.values() if r.txn_type == "02"]
    assert len(refunds_sent) == 6  # the refused ones never reached the terminal
    assert verify(station_a.engine).ok
    for t in (term_a, term_b):
        await t.close()
    station_a.dispose()
    station_b.dispose()
