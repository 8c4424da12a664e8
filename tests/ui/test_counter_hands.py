"""Focus goes where the clerk's hands expect, the money on screen is current, and a partial
approval offers the rest as the next step."""

from __future__ import annotations

from textual.widgets import Input

from posplus_tui.ui.widgets import MoneyInput
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


def _search(app) -> Input:
    return app.screen.query_one("#search", Input)


async def test_back_on_lookup_the_search_box_has_the_focus_and_its_text(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press(*"Garcia")
        await wait_for_text(pilot, "invoices match “Garcia”")
        await pilot.press("down", "enter")  # open one from the list
        await wait_for_area(pilot, "Invoice")
        await settle(pilot)
        first = app.screen.number
        await pilot.press("escape")
        await wait_for_area(pilot, "Lookup")
        await settle(pilot)
        assert app.screen.focused is _search(app)
        assert _search(app).value == "Garcia"
        # Typing starts a new search (the old text was selected), and Enter opens what the
        # new search shows — never the invoice opened before.
        wanted = invoice_number(app, "unpaid_invoice_id")
        await pilot.press(*wanted, "enter")
        await wait_for_area(pilot, "Invoice")
        await settle(pilot)
        assert app.screen.number == wanted != first
        # Same after an area: F6, Esc.
        await pilot.press("escape", "f6")
        await wait_for_area(pilot, "Reconcile")
        await pilot.press("escape")
        await wait_for_area(pilot, "Lookup")
        await settle(pilot)
        assert app.screen.focused is _search(app)
        # Keys typed on the results list go to the search box, and "quinn" never quits.
        await pilot.press("ctrl+f", *"Garcia")
        await wait_for_text(pilot, "invoices match “Garcia”")
        await pilot.press("down")
        await settle(pilot)
        assert app.screen.focused is not _search(app)
        await pilot.press(*"quinn")
        await settle(pilot)
        assert app.is_running
        assert app.screen.focused is _search(app) and _search(app).value == "quinn"


async def test_enter_on_a_list_left_from_an_older_search_opens_nothing(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press(*"Garcia")
        await wait_for_text(pilot, "invoices match “Garcia”")
        await pilot.press("down")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#search", Input).value = "40336"  # the list is still Garcia's
        screen.shown_for = "Garcia"
        screen.action_open_invoice()
        said = str(screen.query_one("#lookup-message").content)
        assert "The list is still for “Garcia”" in said, said
        await settle(pilot)
        assert app.screen is screen


async def test_money_follows_a_payment_and_a_partial_approval_offers_the_rest(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        number = invoice_number(app, "unpaid_invoice_id")
        balance = invoice_balance(app, "unpaid_invoice_id")
        await open_invoice(pilot, number)
        # .05: the terminal approves half of $200.05.
        await pilot.press("d", *"200.05", "f2")
        await wait_for_text(pilot, "PARTIALLY APPROVED")
        await wait_for_text(pilot, "$100.03 is still due")
        due = balance - (await app.services.payments.list_transactions())[0].approved
        await wait_for_text(pilot, f"Balance due now {due.format()}")  # the header follows
        await pilot.press("enter")
        await wait_for_area(pilot, "Invoice")
        await wait_for_text(pilot, "charge the remaining $100.03")
        await pilot.press("c")
        await wait_for_area(pilot, "Charge")
        await settle(pilot)
        assert app.screen.query_one("#amount", MoneyInput).value == "100.03"
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen.query("#outcome-panel"), what="the outcome")
        await wait_for_text(pilot, "PAYMENT APPROVED")
        await pilot.press("enter")
        await wait_for_area(pilot, "Invoice")
        await settle(pilot)
        assert "charge the remaining" not in screen_text(app)


async def test_lookup_shows_the_balance_after_a_payment_without_retyping(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        number = invoice_number(app, "unpaid_invoice_id")
        balance = invoice_balance(app, "unpaid_invoice_id")
        await open_invoice(pilot, number)
        await pilot.press("c", "f2")
        await wait_for_text(pilot, "PAYMENT APPROVED")
        await pilot.press("enter")
        await wait_for_area(pilot, "Invoice")
        await wait_for_text(pilot, "PAID IN FULL", timeout=20)
        await pilot.press("escape")
        await wait_for_area(pilot, "Lookup")
        # The row, as it was listed before: total, balance, state.
        await wait_for_text(pilot, f"{balance.format()} $0.00 paid", timeout=20)
