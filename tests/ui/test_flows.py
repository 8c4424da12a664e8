"""Every counter flow, end to end, by keystrokes: the demo's sandbox over in-process HTTP, the
simulator over the real POSLink codec, SQLite on disk. No fakes."""

from __future__ import annotations

import time

from posplus_tui.domain.money import Money
from tests.ui.conftest import (
    invoice_balance,
    invoice_number,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for,
    wait_for_area,
    wait_for_text,
)


async def _signed_in(pilot, name: str = "clerk", pin: str = "1111") -> None:
    await settle(pilot)
    await sign_in(pilot, name, pin)
    assert ("Terminal" if name == "technician" else "Lookup") == pilot.app.screen.AREA


async def _pay(pilot, keys: list[str]) -> None:
    """From the charge screen: type, send (F2), wait for the outcome."""
    await pilot.press(*keys)
    await pilot.press("f2")
    await settle(pilot)
    await wait_for(
        pilot, lambda: pilot.app.screen.query("#outcome-panel"), what="the payment's outcome"
    )


async def test_lookup_charge_approved_then_posted_on_reconciliation(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot)
        number = invoice_number(app, "unpaid_invoice_id")
        balance = invoice_balance(app, "unpaid_invoice_id")
        await open_invoice(pilot, number)
        await wait_for_text(pilot, f"Balance due {balance.format()}")
        await pilot.press("c")
        await settle(pilot)
        await wait_for_area(pilot, "Charge")
        await wait_for_text(pilot, f"The full balance, {balance.format()}")
        await _pay(pilot, [])
        text = screen_text(app)
        assert "PAYMENT APPROVED" in text and balance.format() in text and "auth code" in text
        await pilot.press("enter")  # back to the invoice
        await settle(pilot)
        await pilot.press("f6")
        await settle(pilot)
        await wait_for_area(pilot, "Reconcile")
        await wait_for_text(pilot, "posted and checked")
        await wait_for_text(pilot, number)
        # Row actions: a posting already checked cannot be retried or marked by hand; the keys
        # are greyed and nothing is asked …
        await settle(pilot)
        await pilot.press("r", "h")
        await settle(pilot)
        await wait_for_area(pilot, "Reconcile")
        assert "Supervisor approval needed" not in screen_text(app)
        assert "already posted and checked" in app.screen.why_disabled("by_hand")
        # … and the clerk can open the invoice the row belongs to.
        await pilot.press("o")
        await settle(pilot)
        await wait_for_area(pilot, "Invoice")
        await wait_for_text(pilot, "PAID IN FULL")
        await pilot.press("escape", "escape")
        await settle(pilot)
        await wait_for_area(pilot, "Lookup")


async def test_deposit_card_on_file_and_refund_with_supervisor_approval(demo_app) -> None:
    """A clerk's day on one invoice: a deposit that saves the card, the rest charged to the card
    on file, then part of it refunded with a supervisor's PIN."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot)
        number = invoice_number(app, "unpaid_invoice_id")
        balance = invoice_balance(app, "unpaid_invoice_id")
        await open_invoice(pilot, number)
        await wait_for_text(pilot, f"Balance due {balance.format()}")

        # Deposit: the amount is checked as it is typed, with the reason.
        await pilot.press("d")
        await settle(pilot)
        await pilot.press(*"100.001")
        await wait_for_text(pilot, "more than two decimals")
        await pilot.press("backspace")
        rest = balance - Money(10000)
        await wait_for_text(pilot, f"{rest.format()} will still be due")
        app.screen.query_one("#save-card").value = True
        await _pay(pilot, [])
        await wait_for_text(pilot, "PAYMENT APPROVED")
        await wait_for_text(pilot, "$100.00")
        await pilot.press("enter")
        await settle(pilot)
        await wait_for_text(pilot, f"Balance due {rest.format()}")
        await wait_for_text(pilot, "deposit")

        # Card on file: the saved card (brand, last 4, expiry) charges the rest.
        await pilot.press("f")
        await settle(pilot)
        await wait_for_area(pilot, "Card on file")
        await wait_for(pilot, lambda: app.screen.cards, what="the saved card")
        card = app.screen.cards[0]
        label = f"{card.brand} •••• {card.last4}"
        await wait_for_text(pilot, label)
        await pilot.press("c")
        await settle(pilot)
        await wait_for_text(pilot, f"The full balance, {rest.format()}")
        await _pay(pilot, [])
        await wait_for_text(pilot, "PAYMENT APPROVED")
        await wait_for_text(pilot, label)
        await pilot.press("enter")  # back to the invoice, as the result says (not Saved cards)
        await settle(pilot)
        await wait_for_area(pilot, "Invoice")
        await wait_for_text(pilot, "PAID IN FULL")

        # Refund part of the card-on-file payment: a clerk needs a supervisor.
        await pilot.press("r")
        await settle(pilot)
        await wait_for_area(pilot, "Refund / void")
        await wait_for_text(pilot, f"Left to refund on this payment: {rest.format()}")
        app.screen.query_one("#amount").value = "30.00"
        app.screen.query_one("#reason").value = "customer returned a part"
        await pilot.press("f2")
        await wait_for_text(pilot, "Supervisor approval needed")
        # The supervisor sees exactly what they approve: action, amount, card and invoice, who
        # asks and where (the approval is bound to all of it).
        shown = screen_text(app)
        for part in ("Refund", "$30.00", label, "asked by clerk at Counter 1"):
            assert part in shown, part
        await pilot.press(*"supervisor", "enter", *"9999", "enter")
        await wait_for_text(pilot, "do not match an active operator")
        await pilot.press(*"supervisor", "enter", *"2222", "enter")
        await wait_for_text(pilot, f"Refund $30.00 to {label}?")
        await pilot.press("enter")  # confirm
        await wait_for(pilot, lambda: app.screen.query("#outcome-panel"), what="the outcome")
        await wait_for_text(pilot, "REFUND APPROVED")
        await pilot.press("enter")
        await settle(pilot)
        await wait_for_text(pilot, "partly refunded")


async def test_decline_over_balance_and_void_by_a_supervisor(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot, "supervisor", "2222")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))

        # More than the balance is refused before anything is sent.
        await pilot.press("d", *"999999")
        await wait_for_text(pilot, "is more than the balance")
        await pilot.press("f2")
        await settle(pilot)
        await wait_for_text(pilot, "The amount is not right yet")
        assert not app.screen.query("#terminal-panel")

        # A decline says why and what next (the simulator declines .01: DO NOT HONOR).
        app.screen.query_one("#amount").value = ""
        await _pay(pilot, list("12.01"))
        text = screen_text(app)
        assert "PAYMENT DECLINED" in text and "DO NOT HONOR" in text
        assert "Ask for another card" in text and "Nothing was charged" in text
        await pilot.press("enter")
        await settle(pilot)

        # Void: a supervisor needs no second PIN; the confirmation repeats amount and card.
        await pilot.press("d")
        await _pay(pilot, list("25.00"))
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: app.screen.transactions, what="our transactions")
        await pilot.press("v")
        await settle(pilot)
        await wait_for_text(pilot, "A void cancels the whole payment ($25.00)")
        app.screen.query_one("#reason").value = "wrong invoice"
        await pilot.press("f2")
        await wait_for_text(pilot, "Void $25.00 to")
        assert "Supervisor approval" not in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query("#outcome-panel"), what="the outcome")
        await wait_for_text(pilot, "VOID APPROVED")
        await pilot.press("enter")
        await settle(pilot)
        await wait_for_text(pilot, "voided")


async def test_escape_cancels_at_the_terminal_during_a_five_second_card_wait(demo_app) -> None:
    app = demo_app(card_wait_ms=5000)
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot)
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await pilot.press("c")
        await settle(pilot)
        started = time.monotonic()
        await pilot.press("f2")
        await wait_for_text(pilot, "waiting for card")
        # The app still redraws and takes keys while the terminal waits.
        await wait_for_text(pilot, "Esc: cancel at the terminal")
        # Quitting now is not done by accident: the app asks, and Enter means stay.
        await pilot.press("ctrl+q")
        await wait_for_text(pilot, "A payment is at the terminal")
        await pilot.press("enter")
        await wait_for_text(pilot, "Esc: cancel at the terminal")
        assert app.is_running
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.query("#outcome-panel"), what="the outcome")
        assert time.monotonic() - started < 4.5
        text = screen_text(app)
        assert "PAYMENT CANCELLED" in text and "Nothing was charged" in text
        # Said once (issue 14: "cancelled at the terminal (cancelled at the terminal)").
        assert text.count("cancelled at the terminal") == 1, text


async def test_keyed_ach_never_shows_the_account_number(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot)
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await pilot.press("a")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#amount").value = "40.00"
        screen.query_one("#routing").value = "011000015"
        screen.query_one("#account").value = "987654321012"
        screen.query_one("#holder").value = "Susan Torres"
        await settle(pilot)
        assert "987654321012" not in screen_text(app)  # a password field: dots only
        await _pay(pilot, [])
        text = screen_text(app)
        assert "PAYMENT APPROVED" in text and "$40.00" in text
        assert "987654321012" not in text


async def test_batch_close_by_a_technician_with_a_supervisor(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot, "technician", "3333")
        await pilot.press("b")
        await wait_for_text(pilot, "Supervisor approval needed")
        await pilot.press(*"supervisor", "enter", *"2222", "enter")
        await wait_for_text(pilot, "Close the batch?")
        await pilot.press("enter")
        await wait_for_text(pilot, "closed:")
        await wait_for_text(pilot, "Batch")
        await wait_for_text(pilot, "transactions")


async def test_a_posting_that_needs_attention_retried_and_one_posted_by_hand(demo_app) -> None:
    """ServiceTitan refuses two postings; a clerk retries one with a supervisor's PIN, and a
    supervisor records the other as entered by hand, with a note for the audit log."""
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _signed_in(pilot)
        faults = app.services.sandbox.faults
        numbers = []
        for case in ("unpaid_invoice_id", "part_paid_invoice_id"):
            faults.fail_next(3, 400, method="POST", path_contains="/payments")
            number = invoice_number(app, case)
            numbers.append(number)
            await open_invoice(pilot, number)
            await pilot.press("c")
            await settle(pilot)
            await _pay(pilot, [])
            await wait_for_text(pilot, "PAYMENT APPROVED")
            await pilot.press("enter", "escape")
            await settle(pilot)
        await pilot.press("f6")
        await settle(pilot)
        await wait_for_text(pilot, "needs attention 2 (n)", timeout=20)
        await pilot.press("n")  # only what needs a person
        await settle(pilot)
        await wait_for_text(pilot, "NEEDS ATTENTION")
        faults.clear()
        # Retry by a clerk: a supervisor approves on the spot.
        await pilot.press("r")
        await wait_for_text(pilot, "Supervisor approval needed")
        await pilot.press(*"supervisor", "enter", *"2222", "enter")
        await wait_for_text(pilot, "Today: posted 1 · waiting 0", timeout=20)
        await wait_for_text(pilot, "Any day, postings: needs attention 1 (n)")
        # The other one: a supervisor records it as posted by hand.
        await pilot.press("ctrl+o")
        await settle(pilot)
        await sign_in(pilot, "supervisor", "2222")
        await pilot.press("f6")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await wait_for_text(pilot, "NEEDS ATTENTION")
        await pilot.press("h")
        await wait_for_text(pilot, "Posted by hand")
        await pilot.press(*"entered by Ana, payment 991", "enter")
        await wait_for_text(pilot, "Today: posted 2 · waiting 0", timeout=20)
        await wait_for_text(pilot, "Any day, postings: needs attention 0 (n)")
    from sqlmodel import select

    from posplus_tui.ledger.tables.audit import AuditEvent

    with app.services.ledger.session() as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
    actors = {r.action: r.actor for r in rows}
    assert actors["reconcile.retry_now"] == "clerk (approved by supervisor)"
    assert actors["reconcile.mark_posted_by_hand"] == "supervisor"
    by_hand = next(r for r in rows if r.action == "reconcile.mark_posted_by_hand")
    assert "entered by Ana, payment 991" in by_hand.details


async def test_a_lost_reply_shows_the_approval_the_terminal_made_never_a_decline(
    demo_app,
) -> None:
    """The terminal approves but its reply is lost on the line (the simulator's .09 amounts):
    the clerk sees the approval, settled by asking the terminal, and the card is charged once."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot)
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await pilot.press("d")
        await settle(pilot)
        await _pay(pilot, list("30.09"))
        await wait_for_text(pilot, "PAYMENT APPROVED")
        text = screen_text(app)
        assert "DECLINED" not in text and "$30.09" in text
        txns = await app.services.payments.list_transactions(limit=5)
        [sale] = [t for t in txns if t.amount.format() == "$30.09"]
        simulator = app.services.payments._terminal.simulator
        assert len(simulator.accepted(sale.ecr_ref)) == 1  # asked about, never sent twice
        await pilot.press("enter")
        await settle(pilot)

        # No reply at all and the terminal has no record: nothing was charged, said so.
        await pilot.press("d")
        await settle(pilot)
        await _pay(pilot, list("30.11"))
        await wait_for_text(pilot, "nothing was charged")
        assert "APPROVED" not in screen_text(app)


async def test_the_invoice_shows_the_new_balance_when_its_posting_lands(demo_app) -> None:
    """ServiceTitan is slow to take the payment: the invoice first says "posting…", then, without
    leaving the screen, the new balance once the posting has landed."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _signed_in(pilot)
        balance = invoice_balance(app, "unpaid_invoice_id")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        app.services.sandbox.faults.slow_next(  # long enough to see "posting…" on a busy CI box
            1, seconds=10.0, method="POST", path_contains="/payments"
        )  # (4 s was seen to end before the clerk's Enter, with the suite on two workers)
        await pilot.press("d")
        await settle(pilot)
        await _pay(pilot, list("100.00"))
        await pilot.press("enter")  # back to the invoice while ServiceTitan is still busy
        await wait_for_text(pilot, "posting")
        await wait_for_text(pilot, f"Balance due {(balance - Money(10000)).format()}", timeout=30)
        assert app.screen.AREA == "Invoice"
