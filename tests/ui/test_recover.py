"""Recover on the Reconcile screen: a payment the terminal never confirmed is listed as needing a
person; c (or the palette's "Reconcile: Recover") asks the terminal and says what it settled.

The demo app (real SQLite ledger, the simulator); the interrupted payment is planted the way a
crashed run leaves it: committed as sent, approved at the terminal, never recorded.
"""

from __future__ import annotations

from sqlalchemy import text

from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import Tender, TxnKind
from posplus_tui.services.txn_store import IntentSpec, TxnStore
from tests.ui.conftest import screen_text, settle, sign_in, wait_for_area, wait_for_text

REF = "P260302RECOVER01"


async def _interrupted_sale(app) -> str:
    """A sale of this station left at the terminal by a run that died: approved there only."""
    payments = app.services.payments
    operator = app.operator
    spec = IntentSpec(
        TxnKind.SALE,
        Tender.CARD,
        Money(8150),
        operator.id,
        operator.name,
        InvoiceFacts("990001", "INV-990001", "77", Money(8150), "J-990001"),
    )
    view = payments.store.write_intent(spec)
    with payments.store.ledger.engine.begin() as conn:  # a fixed reference for the snapshot
        conn.execute(
            text("UPDATE transactions SET ecr_ref = :r WHERE id = :i"), {"r": REF, "i": view.id}
        )
    payments.store.mark_sent(view.id)
    result = await payments._terminal.sale(8150, REF)
    assert type(result).__name__ == "Approved"
    return REF


async def test_recover_settles_what_the_terminal_approved_and_says_so(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, "clerk", "1111")
        ref = await _interrupted_sale(app)
        assert (await app.services.status()).needs_attention == 1  # the status bar counts it
        await pilot.press("f6")
        await wait_for_area(pilot, "Reconcile")
        await wait_for_text(pilot, "Needs a person: 1 payment(s) the terminal has not confirmed")
        assert ref in screen_text(app) and "c (Recover) asks the terminal now" in screen_text(app)

        await pilot.press("c")
        await wait_for_text(pilot, "Recover: Recovered 1 interrupted request(s); 1 had been")
        await settle(pilot)
        words = screen_text(app)
        assert f"{ref}: at terminal → approved. Payment approved: $81.50" in words
        assert "Needs a person" not in words
        assert (await app.services.payments.get(ref)).is_approved  # then on to the outbox

        await pilot.press("c")  # again: nothing left
        await wait_for_text(pilot, "nothing to settle, every payment of this station is settled")


async def test_recover_is_in_the_palette(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, "clerk", "1111")
        ref = await _interrupted_sale(app)
        await pilot.press("f6")
        await wait_for_area(pilot, "Reconcile")
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Recover")
        await wait_for_text(pilot, "Reconcile: Recover")
        await pilot.press("enter")
        await wait_for_text(pilot, "Recover: Recovered 1 interrupted request(s)")
        assert (await app.services.payments.get(ref)).is_approved  # then on to the outbox


def test_snapshot_a_payment_needing_a_person(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await settle(pilot)
        await sign_in(pilot, "supervisor", "2222")
        await _interrupted_sale(pilot.app)
        await pilot.press("f6")
        await wait_for_area(pilot, "Reconcile")
        await wait_for_text(pilot, "Needs a person")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=steps)


async def test_a_second_clerk_is_told_who_is_charging_the_invoice(demo_app) -> None:
    """Counter 2 (another station, same ledger) has the invoice's balance at its terminal right
    now. Counter 1's clerk presses F2 on the same invoice: refused before the terminal, in
    words that say who and where; nothing is charged here."""
    from tests.ui.conftest import invoice_balance, invoice_number, open_invoice, wait_for

    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, "clerk", "1111")
        number = invoice_number(app, "unpaid_invoice_id")
        balance = invoice_balance(app, "unpaid_invoice_id")
        invoice_id = str(app.services.sandbox.cases["unpaid_invoice_id"])
        other = TxnStore(app.services.ledger, station="Counter 2")
        supervisor = app.services.operators.sign_in_sync("supervisor", "2222")
        theirs = other.write_intent(
            IntentSpec(
                TxnKind.SALE,
                Tender.CARD,
                balance,
                supervisor.id,
                supervisor.name,
                InvoiceFacts(invoice_id, number, "1", balance),
            )
        )
        other.mark_sent(theirs.id)

        await open_invoice(pilot, number)
        await pilot.press("c")
        await wait_for_area(pilot, "Charge")
        await settle(pilot)
        await pilot.press("f2")
        await wait_for_text(pilot, "is being charged right now at Counter 2 by supervisor")
        words = screen_text(app)
        assert balance.format() in words and theirs.ecr_ref in words
        assert "Do not charge it here as well" in words
        await wait_for(pilot, lambda: not app.screen.query("#outcome-panel"), what="no outcome")
        mine = await app.services.payments.transactions_for_invoice(invoice_id)
        assert [t.station for t in mine] == ["Counter 2"]  # nothing written or sent here
