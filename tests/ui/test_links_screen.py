"""The payment-links screen: snapshot at 80×24 and the clerk's flow (create a QR link, see it open,
the customer pays, the list says PAID)."""

from __future__ import annotations

from posplus_tui.domain.invoice import facts_of
from tests.links.conftest import pay
from tests.ui.conftest import (
    invoice_number,
    open_invoice,
    settle,
    sign_in,
    wait_for,
    wait_for_area,
    wait_for_text,
)


def test_links_screen_snapshot(snap_compare, demo_app) -> None:
    async def run_before(pilot) -> None:
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(pilot.app, "unpaid_invoice_id"))
        await pilot.press("l")
        await wait_for_area(pilot, "Payment links")
        await wait_for_text(pilot, "Left to collect")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=run_before)


def test_qr_popup_snapshot(snap_compare, demo_app) -> None:
    """The QR pop-up over the links screen (a fixed link address: the sandbox's port and token
    change on every run; the flow through F2 is the Pilot test below)."""
    from types import SimpleNamespace

    from posplus_tui.domain.money import Money

    async def run_before(pilot) -> None:
        await sign_in(pilot, "clerk", "1111")
        number = invoice_number(pilot.app, "unpaid_invoice_id")
        await open_invoice(pilot, number)
        await pilot.press("l")
        await wait_for_area(pilot, "Payment links")
        await wait_for_text(pilot, "Left to collect")
        link = SimpleNamespace(
            url="http://127.0.0.1:12111/pay/plink_snapshot", amount=Money(10219),
            invoice_number=number,
        )  # fmt: skip
        pilot.app.screen._show_qr(link)
        await wait_for(
            pilot, lambda: type(pilot.app.screen).__name__ == "QrScreen", what="the QR code"
        )
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=run_before)


async def test_create_a_qr_link_and_see_it_paid(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await pilot.press("l")
        await wait_for_area(pilot, "Payment links")
        await wait_for_text(pilot, "Left to collect")
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QrScreen", what="the QR code")
        await pilot.press("escape")
        await wait_for_text(pilot, "open (sent)")
        links = app.services.links
        (link,) = await links.links_for_invoice(app.screen.links[0].invoice_id)
        assert (await pay(link.url)).status_code == 200
        await links.poll_once()
        await wait_for_text(pilot, "PAID")
        # a bad address is a sentence under the field, and nothing is created
        await pilot.click("#ch-email")
        await pilot.click("#link-to")
        await pilot.press(*"ann@@x", "f2")
        await wait_for_text(pilot, "exactly one @")
        assert len(await links.links_for_invoice(link.invoice_id)) == 1


async def test_a_paid_link_shows_in_reconcile_like_a_terminal_payment(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, "clerk", "1111")
        number = invoice_number(app, "unpaid_invoice_id")
        await open_invoice(pilot, number)
        facts = facts_of(app.screen.detail)
        links = app.services.link_service()
        clerk = app.services.operators.sign_in_sync("clerk", "1111")
        link = await links.create(facts, operator=clerk)
        assert (await pay(link.url)).status_code == 200
        await links.poll_once()
        await app.services.reconcile.drain_once(wait_for_retries=False, deadline=15)
        await pilot.press("f6")
        await settle(pilot)
        await wait_for_area(pilot, "Reconcile")
        await wait_for_text(pilot, number)
        await wait_for_text(pilot, "posted and checked")
        await wait_for_text(pilot, f"payment {link.reference}")
