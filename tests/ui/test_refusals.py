"""Impossible actions are refused before anything is asked: the key is greyed in the footer, the
palette says why, and pressing it opens no reason box, PIN or confirmation."""

from __future__ import annotations

from posplus_tui.domain.money import Money
from tests.ui.conftest import (
    invoice_number,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for_area,
    wait_for_text,
)


async def _paid_deposit(pilot, app, amount: str) -> None:
    await settle(pilot)
    await sign_in(pilot, "supervisor", "2222")
    await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
    await pilot.press("d", *amount, "f2")
    await wait_for_text(pilot, "PAYMENT APPROVED")
    await pilot.press("enter")
    await wait_for_area(pilot, "Invoice")
    await settle(pilot)


async def _palette_says(pilot, app, words: str) -> None:
    from posplus_tui.ui.commands import ScreenActions

    provider = ScreenActions(app.screen)
    names = [(name, help) for name, _run, help in provider._actions()]
    assert any("Void (not now)" in n and words in h for n, h in names), names


async def test_void_of_a_partly_refunded_payment_is_refused_before_anything_is_asked(
    demo_app,
) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _paid_deposit(pilot, app, "40.00")
        [sale] = await app.services.payments.list_transactions()
        await app.services.payments.refund(
            sale.ecr_ref, Money(1000), operator=app.operator, reason="part returned"
        )
        app.screen.reload()
        await wait_for_text(pilot, "partly refunded")
        await settle(pilot)
        row = [t.ecr_ref for t in app.screen.transactions].index(sale.ecr_ref)
        app.screen.query_one("#ours").move_cursor(row=row)  # the sale, under its refund
        await settle(pilot)
        assert app.screen.check_action("void", ()) is None  # greyed, not hidden
        await pilot.press("v")
        await settle(pilot)
        assert app.screen.AREA == "Invoice"
        assert "Reason" not in screen_text(app)
        await _palette_says(pilot, app, "refunds against it")


async def test_void_after_the_batch_closed_is_refused_before_anything_is_asked(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _paid_deposit(pilot, app, "30.00")
        await app.services.payments.batch_close(operator=app.operator)
        app.screen.reload()
        await settle(pilot)
        assert app.screen.check_action("void", ()) is None
        await pilot.press("v")
        await settle(pilot)
        assert app.screen.AREA == "Invoice"
        await _palette_says(pilot, app, "batch with this sale is closed")
        assert app.screen.check_action("refund", ()) is True  # a refund is still the way
