"""On a Dejavoo (SPIn) terminal the screens offer only what SPIn can do: no card on file, no
keyed ACH, no keyed entry asked of the terminal — read from the driver's capability flags, never
found out by an error after the clerk chose it. A sale runs end to end on the SPIn simulator."""

from __future__ import annotations

from posplus_tui.services.errors import InvalidRequest
from tests.services.conftest import invoice_facts
from tests.ui.conftest import (
    invoice_number,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for_text,
)


async def test_spin_invoice_and_charge_offer_only_what_spin_can_take(demo_app) -> None:
    app = demo_app(terminal="spin")
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        screen = app.screen
        assert screen.check_action("charge", ()) is True
        for action in ("card_on_file", "keyed", "ach"):
            assert screen.check_action(action, ()) is False, action
        text = screen_text(app)
        assert "ACH" not in text and "Card on file" not in text
        await pilot.press("a")  # not offered: nothing happens
        await settle(pilot)
        assert app.screen.AREA == "Invoice"
        await pilot.press("c")
        await settle(pilot)
        assert app.screen.AREA == "Charge"
        methods = [value for _label, value in app.screen.query_one("#method")._options]
        assert [m for m in methods if isinstance(m, str)] == ["card"]
        assert not app.screen.query_one("#save-card-row").display
        await pilot.press("f2")
        await wait_for_text(pilot, "PAYMENT APPROVED")
        assert "VISA •••• 1111" in screen_text(app)


async def test_the_service_refuses_what_the_protocol_cannot_do(demo_app) -> None:
    app = demo_app(terminal="spin")
    services = app.services
    try:
        clerk = next(o for o in services.operators.list_sync() if o.name == "clerk")
        payments = services.payments
        assert payments.offers("card") and not payments.offers("ach")
        for call in (
            payments.charge_ach(invoice_facts("10.00"), "021000021", "123456789", operator=clerk),
            payments.charge_card_on_file(invoice_facts("10.00"), 1, operator=clerk),
            payments.charge(invoice_facts("10.00"), operator=clerk, keyed=True),
        ):
            try:
                await call
            except InvalidRequest as exc:
                assert "cannot take" in exc.message
            else:
                raise AssertionError("a payment the terminal cannot take was sent")
    finally:
        await services.aclose()
