"""Every money flow end to end: the real simulator (in-process ``sim://``) and a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

import drivers
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services.errors import (
    InvalidRequest,
    RefundTooLarge,
    SupervisorRequired,
    TerminalBusy,
    TerminalUnavailable,
    UnknownRecord,
    VoidNotAllowed,
)
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService

from .conftest import Staff, invoice_facts, make_payments

S = TxnState


@pytest.fixture
def ledger_url(migrated_sqlite_url: str) -> str:  # SQLite here; PostgreSQL in test_payments_pg.py
    return migrated_sqlite_url


@pytest.fixture
async def pay(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> AsyncIterator[PaymentService]:
    service, terminal = make_payments(ledger, operators)
    yield service
    await terminal.close()


def sim(pay: PaymentService):
    return pay._terminal.simulator  # type: ignore[attr-defined]


def rows(ledger: Ledger, sql: str) -> list[tuple]:
    with ledger.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def outbox(ledger: Ledger) -> list[tuple]:
    return rows(
        ledger,
        "SELECT t.ecr_ref, o.action, o.marker, o.state FROM outbox o "
        "JOIN transactions t ON t.id = o.transaction_id ORDER BY o.id",
    )


async def approve(
    operators: OperatorService, action: Action, *, by, target: str, amount: Money | None
):
    """Sam's approval of exactly this request (action, target, amount, who asks)."""
    return await operators.approve_as_supervisor(
        "Sam Super", "2222", action=action, requested_by=by, target=target, amount=amount
    )


# -- charges ---------------------------------------------------------------------------------------


async def test_full_balance_sale(pay: PaymentService, staff: Staff, ledger: Ledger) -> None:
    events: list[PaymentEvent] = []
    result = await pay.charge(
        invoice_facts(invoice_id="51234"), operator=staff.clerk, on_event=events.append
    )
    txn = result.transaction
    assert result.approved and txn.state is S.APPROVED and txn.kind is TxnKind.SALE
    assert txn.approved == txn.amount == Money.parse("250.00")
    assert txn.invoice_number == "INV-51234" and txn.job_number == "J51234"
    assert txn.auth_code and txn.host_ref and len(txn.last4) == 4 and txn.brand
    assert "Payment approved: $250.00" in result.message
    assert outbox(ledger) == [(txn.ecr_ref, "post_payment", f"POSPLUS-{txn.ecr_ref}", "pending")]
    assert len(sim(pay).accepted(txn.ecr_ref)) == 1
    kinds = [e.kind for e in events]
    assert kinds[:2] == [PaymentEventKind.INTENT_RECORDED, PaymentEventKind.SENT]
    assert PaymentEventKind.TERMINAL in kinds and kinds[-1] is PaymentEventKind.APPROVED
    assert any(e.terminal_state == "waiting for card" for e in events)
    actions = [
        r[0]
        for r in rows(
            ledger, "SELECT action FROM audit_events WHERE action <> 'row_sealed' ORDER BY seq"
        )
    ]
    assert actions[-2:] == ["payment_intent", "payment_approved"]
    assert verify(ledger.engine).ok


async def test_deposit_and_over_balance_needs_supervisor(
    pay: PaymentService, staff: Staff, operators: OperatorService, ledger: Ledger
) -> None:
    inv = invoice_facts("100.00")
    dep = await pay.deposit(inv, Money.parse("40.00"), operator=staff.clerk)
    assert dep.transaction.kind is TxnKind.DEPOSIT and dep.approved_amount == Money(4000)

    other = invoice_facts("100.00")  # the first invoice holds the deposit until it is posted
    before = rows(ledger, "SELECT count(*) FROM transactions")
    with pytest.raises(SupervisorRequired, match="needs a supervisor"):
        await pay.charge(other, operator=staff.clerk, amount=Money.parse("150.00"))
    with pytest.raises(InvalidRequest, match=r"more than \$0\.00"):
        await pay.charge(other, operator=staff.clerk, amount=Money(0))
    assert rows(ledger, "SELECT count(*) FROM transactions") == before  # nothing changed

    ok = await pay.charge(
        other,
        operator=staff.clerk,
        amount=Money.parse("150.00"),
        approval=await approve(
            operators,
            Action.CHARGE_OVER_BALANCE,
            by=staff.clerk,
            target=other.invoice_id,  # the approval names the invoice it is for
            amount=Money.parse("150.00"),
        ),
    )
    assert ok.approved and ok.transaction.supervisor_id == staff.supervisor.id


async def test_declines_say_the_hosts_reason(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    one = await pay.charge(invoice_facts("10.01"), operator=staff.clerk)
    two = await pay.charge(invoice_facts("10.02"), operator=staff.clerk)
    assert one.state is S.DECLINED and "05 DO NOT HONOR" in one.message
    assert two.state is S.DECLINED and "51 INSUFFICIENT FUNDS" in two.message
    assert "Ask for another card" in two.message
    assert outbox(ledger) == []


async def test_partial_approval(pay: PaymentService, staff: Staff, ledger: Ledger) -> None:
    events: list[PaymentEvent] = []
    result = await pay.charge(invoice_facts("80.05"), operator=staff.clerk, on_event=events.append)
    assert result.approved and result.is_partial
    assert result.approved_amount == Money(4002) and result.still_due == Money(4003)
    assert (
        "Partially approved: $40.02 of $80.05" in result.message
        and "$40.03 is still due" in result.message
    )
    assert events[-1].kind is PaymentEventKind.PARTIAL
    assert len(outbox(ledger)) == 1


async def test_cardholder_cancel_at_terminal(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    result = await pay.charge(invoice_facts("20.07"), operator=staff.clerk)
    assert result.state is S.CANCELLED and "Nothing was charged" in result.message
    assert result.message.lower().count("cancel") == 1, result.message  # said once, not twice
    assert outbox(ledger) == []


async def test_lost_reply_is_settled_by_asking_never_resent(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    events: list[PaymentEvent] = []
    result = await pay.charge(invoice_facts("30.09"), operator=staff.clerk, on_event=events.append)
    assert result.state is S.APPROVED
    assert PaymentEventKind.UNKNOWN in [e.kind for e in events]
    assert len(sim(pay).accepted(result.ecr_ref)) == 1  # asked about, never sent again
    assert len(outbox(ledger)) == 1


async def test_unanswered_request_is_not_found_and_not_resent(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    result = await pay.charge(invoice_facts("30.11"), operator=staff.clerk)
    assert result.state is S.NOT_FOUND and "nothing was charged" in result.message
    assert len(sim(pay).accepted(result.ecr_ref)) == 1
    assert outbox(ledger) == []


async def test_card_on_file_save_charge_list_revoke(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    first = await pay.charge(invoice_facts("50.00"), operator=staff.clerk, save_card=True)
    assert first.approved and first.transaction.card_on_file_id is not None
    cards = await pay.list_cards("7001")
    assert len(cards) == 1 and cards[0].last4 == first.transaction.last4
    assert cards[0].expiry and "••••" in cards[0].label
    stored = rows(ledger, "SELECT token, brand, last4, expiry, customer_id FROM cards_on_file")
    assert stored[0][0].startswith("TK") and stored[0][4] == "7001"

    again = await pay.charge_card_on_file(invoice_facts("75.00"), cards[0].id, operator=staff.clerk)
    assert again.approved and again.transaction.tender is Tender.CARD_ON_FILE
    assert again.transaction.last4 == cards[0].last4

    with pytest.raises(InvalidRequest, match="another customer"):
        await pay.charge_card_on_file(
            invoice_facts("5.00", customer="9999"), cards[0].id, operator=staff.clerk
        )
    await pay.revoke_card(cards[0].id, operator=staff.clerk)
    assert await pay.list_cards("7001") == []
    with pytest.raises(UnknownRecord, match="not on file"):
        await pay.charge_card_on_file(invoice_facts("5.00"), cards[0].id, operator=staff.clerk)
    assert rows(ledger, "SELECT token FROM cards_on_file") == [("",)]


async def test_keyed_card(pay: PaymentService, staff: Staff) -> None:
    events: list[PaymentEvent] = []
    result = await pay.charge_keyed(
        invoice_facts("12.00"), operator=staff.clerk, on_event=events.append
    )
    assert result.approved and result.transaction.tender is Tender.KEYED
    assert result.transaction.entry_method == "keyed"


async def test_keyed_ach(pay: PaymentService, staff: Staff, ledger: Ledger) -> None:
    before = rows(ledger, "SELECT count(*) FROM transactions")
    with pytest.raises(InvalidRequest, match="not a valid US bank routing number"):
        await pay.charge_ach(invoice_facts(), "021000022", "123456789012", operator=staff.clerk)
    with pytest.raises(InvalidRequest, match="4 to 17 digits"):
        await pay.charge_ach(invoice_facts(), "021000021", "12", operator=staff.clerk)
    assert rows(ledger, "SELECT count(*) FROM transactions") == before
    result = await pay.charge_ach(
        invoice_facts(), "021000021", "987654321012", operator=staff.clerk
    )
    assert result.approved and result.transaction.tender is Tender.ACH
    assert result.transaction.last4 == "1012" and result.transaction.entry_method == "ach"


# -- refunds and voids -------------------------------------------------------------------------------


async def test_refunds_need_a_supervisor_and_never_exceed_captured(
    pay: PaymentService, staff: Staff, operators: OperatorService, ledger: Ledger
) -> None:
    sale = await pay.charge(invoice_facts("100.00"), operator=staff.clerk)
    ref = sale.ecr_ref
    with pytest.raises(SupervisorRequired):
        await pay.refund(ref, Money.parse("10"), operator=staff.clerk)

    r1 = await pay.refund(
        ref,
        Money.parse("30"),
        operator=staff.clerk,
        approval=await approve(
            operators, Action.REFUND, by=staff.clerk, target=ref, amount=Money.parse("30")
        ),
    )
    assert (
        r1.approved
        and r1.transaction.kind is TxnKind.REFUND
        and "Refund approved: $30.00" in r1.message
    )
    assert (await pay.get(ref)).state is S.PARTIALLY_REFUNDED
    r2 = await pay.refund(ref, Money.parse("25.50"), operator=staff.supervisor)
    assert r2.approved and await pay.refundable(ref) == Money.parse("44.50")

    count = rows(ledger, "SELECT count(*) FROM transactions")
    with pytest.raises(RefundTooLarge) as info:
        await pay.refund(ref, Money.parse("44.51"), operator=staff.supervisor)
    assert info.value.fix == "Refund at most $44.50."
    assert rows(ledger, "SELECT count(*) FROM transactions") == count

    rest = await pay.refund(ref, operator=staff.supervisor)  # everything that is left
    assert rest.approved_amount == Money.parse("44.50")
    assert (await pay.get(ref)).state is S.REFUNDED
    with pytest.raises(InvalidRequest, match="Nothing is left to refund"):
        await pay.refund(ref, operator=staff.supervisor)
    with pytest.raises(InvalidRequest, match="no captured money"):
        await pay.refund(ref, Money.parse("1"), operator=staff.supervisor)
    actions = [a for _r, a, _m, _s in outbox(ledger)]
    assert actions == ["post_payment", "post_refund", "post_refund", "post_refund"]
    sim_rec = sim(pay).records[ref]
    assert sim_rec.refunded_cents == 10000


async def test_refund_of_a_partial_approval_is_limited_to_what_was_captured(
    pay: PaymentService, staff: Staff
) -> None:
    sale = await pay.charge(invoice_facts("80.05"), operator=staff.clerk)
    with pytest.raises(RefundTooLarge, match=r"left to refund: \$40\.02"):
        await pay.refund(sale.ecr_ref, Money.parse("80.05"), operator=staff.supervisor)


async def test_void_before_batch_close_then_refund_instead(
    pay: PaymentService, staff: Staff, operators: OperatorService, ledger: Ledger
) -> None:
    sale = await pay.charge(invoice_facts("60.00"), operator=staff.clerk)
    with pytest.raises(SupervisorRequired):
        await pay.void(sale.ecr_ref, operator=staff.clerk)
    voided = await pay.void(
        sale.ecr_ref,
        operator=staff.clerk,
        approval=await approve(
            operators, Action.VOID, by=staff.clerk, target=sale.ecr_ref, amount=sale.approved_amount
        ),
    )
    assert voided.approved and voided.transaction.kind is TxnKind.VOID
    assert (await pay.get(sale.ecr_ref)).state is S.VOIDED
    assert outbox(ledger)[-1][1] == "void_payment"
    with pytest.raises(VoidNotAllowed, match="already voided"):
        await pay.void(sale.ecr_ref, operator=staff.supervisor)
    with pytest.raises(InvalidRequest, match="no captured money"):
        await pay.refund(sale.ecr_ref, Money.parse("1"), operator=staff.supervisor)

    other = await pay.charge(invoice_facts("70.00"), operator=staff.clerk)
    with pytest.raises(SupervisorRequired):
        await pay.batch_close(operator=staff.clerk)
    summary = await pay.batch_close(operator=staff.supervisor)
    assert summary.count >= 1 and summary.ledger_rows >= 1
    count = rows(ledger, "SELECT count(*) FROM transactions")
    with pytest.raises(VoidNotAllowed) as info:
        await pay.void(other.ecr_ref, operator=staff.supervisor)
    assert info.value.fix == "Refund it instead."
    assert rows(ledger, "SELECT count(*) FROM transactions") == count
    refund = await pay.refund(other.ecr_ref, operator=staff.supervisor)
    assert refund.approved


async def test_void_refused_by_terminal_after_an_outside_batch_close(
    pay: PaymentService, staff: Staff
) -> None:
    sale = await pay.charge(invoice_facts("61.00"), operator=staff.clerk)
    sim(pay)._batch_close()  # the terminal settled on its own (e.g. a nightly auto-close)
    with pytest.raises(VoidNotAllowed, match="Refund it instead"):
        await pay.void(sale.ecr_ref, operator=staff.supervisor)
    assert (await pay.get(sale.ecr_ref)).batch_closed
    assert (await pay.get(sale.ecr_ref)).state is S.APPROVED


# -- the terminal and the clerk ------------------------------------------------------------------------


async def test_clerk_cancel_is_sent_to_the_terminal_and_recorded(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators, "sim://?card_wait_ms=5000")
    waiting = asyncio.Event()

    def on_event(e: PaymentEvent) -> None:
        if e.terminal_state == "waiting for card":
            waiting.set()

    task = asyncio.create_task(pay.charge(invoice_facts(), operator=staff.clerk, on_event=on_event))
    await asyncio.wait_for(waiting.wait(), 5)
    assert await pay.cancel_current(operator=staff.clerk)
    result = await asyncio.wait_for(task, 5)
    assert result.state is S.CANCELLED
    assert rows(
        ledger, "SELECT action, subject FROM audit_events WHERE action='cancel_requested'"
    ) == [("cancel_requested", result.ecr_ref)]
    assert not await pay.cancel_current()  # nothing in progress any more
    await terminal.close()


async def test_one_request_at_a_time(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators, "sim://?card_wait_ms=300")
    first = asyncio.create_task(pay.charge(invoice_facts(), operator=staff.clerk))
    await asyncio.sleep(0)
    while pay._current_ref is None:  # until the first has its intent
        await asyncio.sleep(0.01)
    with pytest.raises(TerminalBusy, match="busy"):
        await pay.charge(invoice_facts("1.00"), operator=staff.clerk)
    assert (await first).approved
    await terminal.close()


async def test_terminal_offline_changes_nothing(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(
        ledger, operators, "poslink+tcp://127.0.0.1:9?connect_timeout=0.5&timeout=1"
    )
    with pytest.raises(TerminalUnavailable) as info:
        await pay.charge(invoice_facts(), operator=staff.clerk)
    assert "Nothing was charged" in info.value.message and "connected" in info.value.fix
    assert rows(ledger, "SELECT state FROM transactions") == [("failed",)]
    assert outbox(ledger) == []
    await terminal.close()


async def test_unknown_invoice_is_refused(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    with pytest.raises(UnknownRecord, match="No invoice"):
        await pay.charge(invoice_facts(invoice_id=" "), operator=staff.clerk)
    with pytest.raises(UnknownRecord, match="No transaction has the reference"):
        await pay.refund("P000000NOPE00000", operator=staff.supervisor)
    assert rows(ledger, "SELECT count(*) FROM transactions") == [(0,)]


async def test_paid_invoice_says_so(pay: PaymentService, staff: Staff, ledger: Ledger) -> None:
    with pytest.raises(InvalidRequest, match="nothing left to pay") as info:
        await pay.charge(invoice_facts("0.00"), operator=staff.clerk)
    assert "supervisor" in info.value.fix
    assert rows(ledger, "SELECT count(*) FROM transactions") == [(0,)]


async def test_technician_cannot_take_payments(pay: PaymentService, staff: Staff) -> None:
    from posplus_tui.services.errors import NotPermitted

    with pytest.raises(NotPermitted):
        await pay.charge(invoice_facts(), operator=staff.tech)


async def test_history_for_an_invoice_and_async_event_stream(
    pay: PaymentService, staff: Staff
) -> None:
    seen: list[PaymentEventKind] = []

    async def follow() -> None:
        async for event in pay.events():
            seen.append(event.kind)
            if event.kind is PaymentEventKind.APPROVED:
                return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    sale = await pay.charge(invoice_facts(invoice_id="51234"), operator=staff.clerk)
    await asyncio.wait_for(follower, 2)
    assert seen[0] is PaymentEventKind.INTENT_RECORDED and seen[-1] is PaymentEventKind.APPROVED
    await pay.refund(sale.ecr_ref, Money.parse("5"), operator=staff.supervisor)
    history = await pay.transactions_for_invoice("51234")
    assert [t.kind for t in history] == [TxnKind.REFUND, TxnKind.SALE]
    assert history[0].parent_id == history[1].id


# -- recovery ----------------------------------------------------------------------------------------


async def test_recover_settles_unknowns_and_discards_unsent(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators, settle_unknown_now=False)
    lost = await pay.charge(invoice_facts("30.09"), operator=staff.clerk)
    silent = await pay.charge(invoice_facts("30.11"), operator=staff.clerk)
    assert lost.state is S.UNKNOWN and silent.state is S.UNKNOWN
    assert "Do NOT run the card again" in lost.message
    from posplus_tui.services.txn_store import IntentSpec

    unsent = pay.store.write_intent(
        IntentSpec(
            TxnKind.SALE, Tender.CARD, Money(999), staff.clerk.id, staff.clerk.name, invoice_facts()
        )
    )
    from posplus_tui.services.recovery import recover_at_start

    report = await recover_at_start(pay)
    assert report.headline().startswith("Recovered 3 interrupted request(s); 1 had been approved")
    outcomes = {o.ecr_ref: o for o in report.outcomes}
    assert outcomes[lost.ecr_ref].after is S.APPROVED
    assert outcomes[silent.ecr_ref].after is S.NOT_FOUND
    assert outcomes[unsent.ecr_ref].after is S.DISCARDED
    assert len(sim(pay).accepted(lost.ecr_ref)) == 1 and sim(pay).accepted(unsent.ecr_ref) == []
    assert [r[0] for r in outbox(ledger)] == [lost.ecr_ref]
    assert await pay.recover() == []  # nothing left to settle
    assert verify(ledger.engine).ok
    await terminal.close()


async def test_recover_only_touches_this_station(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    from posplus_tui.services.txn_store import IntentSpec, TxnStore

    other = TxnStore(ledger, station="Counter 2")
    theirs = other.write_intent(
        IntentSpec(
            TxnKind.SALE, Tender.CARD, Money(500), staff.clerk.id, staff.clerk.name, invoice_facts()
        )
    )
    pay, terminal = make_payments(ledger, operators)
    assert await pay.recover() == []
    assert other.get(theirs.ecr_ref).state is S.INTENT
    await terminal.close()


def test_drivers_results_are_typed() -> None:
    assert drivers.Approved and drivers.Unknown  # the engine settles only typed results


async def test_posting_events_for_the_reconcile_worker(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    from posplus_tui.domain.transactions import IllegalTransition, TxnEvent
    from posplus_tui.services.txn_store import apply_posting_event

    sale = await pay.charge(invoice_facts("40.00"), operator=staff.clerk)
    with ledger.session() as session:
        assert (
            apply_posting_event(session, sale.transaction.id, TxnEvent.POST_FAILED) is S.POST_FAILED
        )
    with ledger.session() as session:
        assert apply_posting_event(session, sale.transaction.id, TxnEvent.POSTED) is S.POSTED
    await pay.refund(sale.ecr_ref, Money.parse("10"), operator=staff.supervisor)
    with ledger.session() as session:  # posting never hides the refund
        assert (
            apply_posting_event(session, sale.transaction.id, TxnEvent.RECONCILED)
            is S.PARTIALLY_REFUNDED
        )
    declined = await pay.charge(invoice_facts("1.01"), operator=staff.clerk)
    with pytest.raises(IllegalTransition), ledger.session() as session:
        apply_posting_event(session, declined.transaction.id, TxnEvent.POSTED)
    with pytest.raises(ValueError, match="not a posting event"), ledger.session() as session:
        apply_posting_event(session, sale.transaction.id, TxnEvent.APPROVED)


async def test_a_late_approval_overrides_not_found(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    """Recovery run elsewhere asked before the request reached the terminal (NOT_FOUND); the
    terminal then approved it. The terminal wins: the sale is recorded approved, with its outbox."""
    from posplus_tui.services.txn_store import IntentSpec

    view = pay.store.write_intent(
        IntentSpec(
            TxnKind.SALE,
            Tender.CARD,
            Money(1500),
            staff.clerk.id,
            staff.clerk.name,
            invoice_facts(),
        )
    )
    pay.store.mark_sent(view.id)
    assert pay.store.settle(view.id, drivers.NotFound(view.ecr_ref), actor="x").state is S.NOT_FOUND
    late = drivers.Approved(view.ecr_ref, 1500, 1500, "A1", "H1", "T1", "VISA", "1111")
    after = pay.store.settle(view.id, late, actor="clerk")
    assert after.state is S.APPROVED and after.approved == Money(1500)
    assert [r[0] for r in outbox(ledger)] == [view.ecr_ref]
    assert pay.store.settle(view.id, late, actor="clerk").state is S.APPROVED  # idempotent
    assert len(outbox(ledger)) == 1


async def test_a_broken_listener_never_breaks_a_payment(pay: PaymentService, staff: Staff) -> None:
    seen: list[PaymentEventKind] = []

    def broken(_event: PaymentEvent) -> None:
        raise RuntimeError("screen went away")

    unsubscribe_broken = pay.subscribe(broken)
    unsubscribe = pay.subscribe(lambda e: seen.append(e.kind))
    assert (await pay.charge(invoice_facts("9.00"), operator=staff.clerk)).approved
    assert seen[-1] is PaymentEventKind.APPROVED
    unsubscribe()
    unsubscribe_broken()
    count = len(seen)
    await pay.charge(invoice_facts("8.00"), operator=staff.clerk)
    assert len(seen) == count


async def test_the_reason_for_a_refund_or_void_is_in_the_audit_chain_with_its_intent(
    pay: PaymentService, staff: Staff, ledger: Ledger
) -> None:
    """Why money went back is kept in the same commit as the request, in the operator's words;
    a reason holding a card number is refused before anything is written."""
    sale = await pay.charge(invoice_facts("90.00"), operator=staff.clerk)
    other = await pay.charge(invoice_facts("20.00"), operator=staff.clerk)
    before = rows(ledger, "SELECT count(*) FROM audit_events")
    for reason in ("part returned; card 4111111111111111", "pan_4111.1111.1111.1111"):
        with pytest.raises(InvalidRequest, match="card number"):
            await pay.refund(
                sale.ecr_ref, Money.parse("15"), operator=staff.supervisor, reason=reason
            )
    assert rows(ledger, "SELECT count(*) FROM audit_events") == before
    refund = await pay.refund(
        sale.ecr_ref,
        Money.parse("15"),
        operator=staff.supervisor,
        reason="part returned; invoice 4111",
    )
    void = await pay.void(other.ecr_ref, operator=staff.supervisor, reason="charged twice")
    details = dict(
        rows(
            ledger,
            "SELECT subject, details FROM audit_events WHERE action = 'payment_intent'",
        )
    )
    assert "part returned" in details[refund.ecr_ref]
    assert "4111111111111111" not in details[refund.ecr_ref]
    assert "charged twice" in details[void.ecr_ref]
    assert '"reason"' not in details[sale.ecr_ref]  # a sale has none
    assert verify(ledger.engine).ok
