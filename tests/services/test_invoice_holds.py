"""One invoice, one charge across stations: the ledger holds what every station charged on an
invoice until ServiceTitan shows it, and the engine offers ServiceTitan's balance minus that.

Two engines (two stations, each with its own terminal) share one real ledger, SQLite file or
PostgreSQL. A refused clerk is told who is charging, where and how much.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnEvent, TxnKind, TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.services.errors import InvoiceBusy
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService
from posplus_tui.services.txn_store import apply_posting_event

from .conftest import FAST_PIN_COST, Staff, invoice_facts, make_payments

S = TxnState


def _sent_to(pay: PaymentService) -> list[str]:
    """ECR references the station's terminal (simulator) was asked to charge."""
    sim = pay._terminal.simulator  # type: ignore[attr-defined]
    return [ref for ref, r in sim.records.items() if r.txn_type == "01"]


def _post(ledger: Ledger, ref: str) -> None:
    """What the reconcile worker records once ServiceTitan took the payment."""
    with ledger.session() as session:
        txn_id = session.execute(
            text("SELECT id FROM transactions WHERE ecr_ref = :r"), {"r": ref}
        ).scalar_one()
        apply_posting_event(session, txn_id, TxnEvent.POSTED)


def _approved_on(ledger: Ledger, invoice_id: str) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT coalesce(sum(approved_cents), 0) FROM transactions WHERE invoice_id = :i "
                "AND kind IN ('sale', 'deposit') AND state NOT IN ('declined', 'cancelled', "
                "'failed', 'not_found', 'discarded', 'intent', 'at_terminal', 'unknown')"
            ),
            {"i": invoice_id},
        ).scalar_one()


@pytest.fixture
async def pay(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> AsyncIterator[PaymentService]:
    service, terminal = make_payments(ledger, operators)
    yield service
    await terminal.close()


@pytest.fixture
async def two_stations(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> AsyncIterator[tuple[PaymentService, PaymentService]]:
    """Counter 1 (its cardholder takes 0.6 s) and Counter 2, each with its own terminal."""
    ops_b = OperatorService(ledger, station="Counter 2", pin_cost=FAST_PIN_COST)
    pay_a, term_a = make_payments(ledger, operators, "sim://?timeout=3&card_wait_ms=600")
    pay_b, term_b = make_payments(ledger, ops_b, "sim://?timeout=3", station="Counter 2")
    yield pay_a, pay_b
    await term_a.close()
    await term_b.close()


async def test_second_clerk_is_told_who_is_charging_and_from_which_station(
    ledger: Ledger, two_stations: tuple[PaymentService, PaymentService], staff: Staff
) -> None:
    pay_a, pay_b = two_stations
    inv = invoice_facts("180.00")
    at_a = asyncio.create_task(pay_a.charge(inv, operator=staff.clerk))
    for _ in range(200):  # until station A's request is at its terminal
        rows = await pay_a.transactions_for_invoice(inv.invoice_id)
        if rows and rows[0].state is S.AT_TERMINAL:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(InvoiceBusy) as refused:
        await pay_b.charge(inv, operator=staff.supervisor)
    words = str(refused.value)
    assert f"Invoice {inv.number} is being charged right now at Counter 1 by Carl Clerk" in words
    assert "$180.00" in words and "Do not charge it here as well" in words
    a = await at_a
    assert a.approved

    # Approved at A, not in ServiceTitan yet: B, still reading the old balance, is refused too,
    # with the amount, the station and the reference; a deposit does not fit either.
    with pytest.raises(InvoiceBusy) as held:
        await pay_b.charge(inv, operator=staff.supervisor)
    words = str(held.value)
    assert "$180.00 approved at Counter 1 by Carl Clerk" in words and a.ecr_ref in words
    assert "ServiceTitan does not show yet" in words and "nothing is left to pay" in words
    with pytest.raises(InvoiceBusy, match=r"only \$0\.00 .* is left to pay, not \$20\.00"):
        await pay_b.deposit(inv, Money.parse("20.00"), operator=staff.supervisor)
    assert _sent_to(pay_b) == []  # nothing refused ever reached B's terminal
    assert _approved_on(ledger, inv.invoice_id) == 18_000


async def test_two_stations_pressing_charge_together_collect_the_balance_once(
    ledger: Ledger, two_stations: tuple[PaymentService, PaymentService], staff: Staff
) -> None:
    """The finding: B pressing F2 within ~2 s of A was approved too (8 of 8). Now one of the two
    is refused before its terminal, every time, whichever wins the invoice's lock."""
    pay_a, pay_b = two_stations
    for _ in range(8):
        inv = invoice_facts("100.00")

        async def press(pay: PaymentService, inv=inv) -> str:  # type: ignore[no-untyped-def]
            try:
                return (await pay.charge(inv, operator=staff.clerk)).state.value
            except InvoiceBusy as exc:
                assert ("Counter 1" if pay is pay_b else "Counter 2") in str(exc)
                return "refused"

        results = sorted(await asyncio.gather(press(pay_a), press(pay_b)))
        assert results == ["approved", "refused"], results
        assert _approved_on(ledger, inv.invoice_id) == 10_000
    assert len(_sent_to(pay_a)) + len(_sent_to(pay_b)) == 8


async def test_a_posted_payment_is_subtracted_once(
    ledger: Ledger, pay: PaymentService, staff: Staff
) -> None:
    """Once ServiceTitan shows our payment, its balance has it: the ledger must not take it off
    again. Until it shows it, whatever the posting state, the ledger does."""
    inv = invoice_facts("250.00")
    dep = await pay.deposit(inv, Money.parse("100.00"), operator=staff.clerk)
    assert await pay.available(inv) == Money.parse("150.00")  # the reading before the deposit
    _post(ledger, dep.ecr_ref)
    assert await pay.available(inv) == Money.parse("150.00")  # still the old reading
    # A fresh reading after the post: balance 150, our payment listed on the invoice.
    fresh = invoice_facts("150.00", invoice_id=inv.invoice_id, seen_refs=frozenset({dep.ecr_ref}))
    assert await pay.available(fresh) == Money.parse("150.00")  # not 50: subtracted once
    # The balance moved but the payment list lags (late visibility): under-offer, never double.
    lagging = invoice_facts("150.00", invoice_id=inv.invoice_id)
    assert await pay.available(lagging) == Money.parse("50.00")
    rest = await pay.charge(fresh, operator=staff.clerk)  # the full rest, by default
    assert rest.approved and rest.transaction.amount == Money.parse("150.00")
    assert rest.transaction.kind is TxnKind.SALE
    assert _approved_on(ledger, inv.invoice_id) == 25_000


async def test_refunds_voids_declines_and_unknowns_hold_what_they_should(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators, settle_unknown_now=False)
    refunded = invoice_facts("100.00")
    sale = await pay.charge(refunded, operator=staff.clerk)
    await pay.refund(sale.ecr_ref, Money.parse("30.00"), operator=staff.supervisor)
    assert await pay.available(refunded) == Money.parse("30.00")  # 70 still taken

    voided = invoice_facts("100.00")
    sale = await pay.charge(voided, operator=staff.clerk)
    await pay.void(sale.ecr_ref, operator=staff.supervisor)
    assert await pay.available(voided) == Money.parse("100.00")

    declined = invoice_facts("10.01")  # the simulator declines .01
    assert (await pay.charge(declined, operator=staff.clerk)).state is S.DECLINED
    assert await pay.available(declined) == Money.parse("10.01")

    lost = invoice_facts("30.09")  # approved, reply lost: unknown until the terminal says
    assert (await pay.charge(lost, operator=staff.clerk)).state is S.UNKNOWN
    with pytest.raises(InvoiceBusy, match=r"terminal has not confirmed yet .* may have been taken"):
        await pay.charge(lost, operator=staff.clerk)
    await pay.recover()
    assert await pay.available(lost) == Money(0)  # it had been approved
    await terminal.close()


async def test_over_balance_with_a_supervisor_cannot_override_another_stations_hold(
    ledger: Ledger, two_stations: tuple[PaymentService, PaymentService], staff: Staff
) -> None:
    from posplus_tui.domain.roles import Action

    pay_a, pay_b = two_stations
    inv = invoice_facts("60.00")
    assert (await pay_a.charge(inv, operator=staff.clerk)).approved
    ops_b = pay_b._operators  # type: ignore[attr-defined]
    approval = await ops_b.approve_as_supervisor(
        "Sam Super",
        "2222",
        action=Action.CHARGE_OVER_BALANCE,
        requested_by=staff.clerk,
        target=inv.invoice_id,
        amount=Money.parse("80.00"),
    )
    with pytest.raises(InvoiceBusy, match="approved at Counter 1"):
        await pay_b.charge(
            inv, operator=staff.clerk, amount=Money.parse("80.00"), approval=approval
        )
    assert _sent_to(pay_b) == []


async def test_an_intent_abandoned_by_a_dead_station_stops_blocking_the_invoice(
    ledger: Ledger, pay: PaymentService, staff: Staff
) -> None:
    """Counter 2 wrote an intent and stopped before sending it. Within two minutes the invoice
    is still its (it may be sending right now); after that, the next charge discards the
    abandoned intent and goes ahead, and Counter 2 could no longer send it."""
    from datetime import UTC, datetime, timedelta

    from posplus_tui.domain.transactions import Tender
    from posplus_tui.services.errors import ServiceError
    from posplus_tui.services.txn_store import IntentSpec, TxnStore

    inv = invoice_facts("75.00")
    written = datetime.now(UTC)
    dead = TxnStore(ledger, station="Counter 2", clock=lambda: written)
    spec = IntentSpec(TxnKind.SALE, Tender.CARD, inv.balance, staff.clerk.id, "Lee", inv)
    theirs = dead.write_intent(spec)
    with pytest.raises(InvoiceBusy, match="being charged right now at Counter 2"):
        await pay.charge(inv, operator=staff.clerk)

    written = datetime.now(UTC) - timedelta(minutes=3)  # as if it were written 3 minutes ago
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE transactions SET created_at = :t WHERE id = :i"),
            {"t": written, "i": theirs.id},
        )
    mine = await pay.charge(inv, operator=staff.clerk)
    assert mine.approved
    assert (await pay.get(theirs.ecr_ref)).state is S.DISCARDED
    with pytest.raises(ServiceError, match="no longer waiting to be sent"):
        dead.mark_sent(theirs.id)  # the stopped process wakes up: nothing can be sent
    assert _approved_on(ledger, inv.invoice_id) == 7_500
