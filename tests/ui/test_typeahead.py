"""Keys typed ahead of the screen: a fast clerk (or a badge reader) sends a burst of keys before
anything redraws. Keys that move the focus must move it before the next key is routed, as they
do in a real terminal; otherwise a PIN lands in a name field or Enter searches again."""

from __future__ import annotations

from textual import events

from posplus_tui.ui.modals import Credentials, SupervisorApproval
from tests.ui.conftest import settle, sign_in, wait_for, wait_for_area, wait_for_text


def _burst(app, keys: list[str]) -> None:
    """Queue every key at once: nothing is processed between them."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_down_then_enter_in_one_burst_opens_the_highlighted_invoice(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press(*"Garcia")
        await settle(pilot)
        await wait_for_text(pilot, "invoices match “Garcia”")
        first = app.screen.results[0]
        _burst(app, ["down", "enter"])
        await wait_for_area(pilot, "Invoice")
        await settle(pilot)  # let the invoice screen finish mounting before the test ends
        assert app.screen.invoice_id == first.id


async def test_supervisor_name_and_pin_in_one_burst(demo_app) -> None:
    app = demo_app()
    got: list[Credentials | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(SupervisorApproval("Refund $30.00"), got.append)
        await settle(pilot)
        _burst(app, [*"supervisor", "enter", *"2222", "enter"])
        await wait_for(pilot, lambda: got, what="the dialog's answer")
    assert got == [Credentials("supervisor", "2222")]
