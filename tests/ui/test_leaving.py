"""A payment in flight belongs to the station: every key that leaves the payment screen while the
terminal waits for the card lets the payment finish (or asks first), the status bar follows it,
F4 comes back to it, and the ledger ends with what the terminal did — approved, declined, or
(reply lost) settled by asking the terminal — never abandoned as UNKNOWN.

The demo's simulator, over the real POSLink codec, decides by the cents of the amount: ``.00``
approves, ``.01`` declines, ``.09`` approves but loses the reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.wiring import build_demo
from tests.ui.conftest import (
    TEST_PIN_COST,
    invoice_number,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for,
    wait_for_area,
    wait_for_text,
)

#: amount typed → what the terminal does with it, and the words the result shows.
OUTCOMES = {
    "approved": ("12.00", "PAYMENT APPROVED"),
    "declined": ("12.01", "PAYMENT DECLINED"),
    "lost": ("12.09", "PAYMENT APPROVED"),  # the reply is lost; the terminal's status settles it
}

#: key → (who presses it, the screen it leads to, the dialog answer it needs, if any).
LEAVING = {
    "f5": ("clerk", "1111", "Lookup"),
    "f6": ("clerk", "1111", "Reconcile"),
    "f7": ("clerk", "1111", "Terminal"),
    "f8": ("admin", "4444", "Setup"),
    "ctrl+o": ("clerk", "1111", "Sign in"),
}


async def _start_deposit(pilot, app, amount: str, who: str, pin: str) -> None:
    await settle(pilot)
    await sign_in(pilot, who, pin)
    await _deposit(pilot, app, amount)


async def _deposit(pilot, app, amount: str) -> None:
    await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
    await pilot.press("d")
    await wait_for_area(pilot, "Charge")
    await pilot.press(*amount, "f2")
    await wait_for_text(pilot, "waiting for card")


async def _ours(app) -> list:
    return await app.services.payments.list_transactions(limit=10)


@pytest.mark.parametrize("key", sorted(LEAVING))
async def test_leaving_during_the_card_wait_lets_the_payment_finish(demo_app, key):
    """Each outcome in turn at one counter (one app: starting it again for each costs seconds
    and proves nothing more)."""
    who, pin, _ = LEAVING[key]
    app = demo_app(card_wait_ms=2500)  # long enough to leave, and to answer a question
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, who, pin)
        for outcome in sorted(OUTCOMES):
            amount, _ = OUTCOMES[outcome]
            await wait_for_area(pilot, "Lookup" if outcome == min(OUTCOMES) else "Invoice")
            if app.screen.AREA != "Lookup":
                await pilot.press("f5")
                await wait_for_area(pilot, "Lookup")
            await _deposit(pilot, app, amount)
            await _leave_and_come_back(pilot, app, key, outcome)


async def _leave_and_come_back(pilot, app, key: str, outcome: str) -> None:
    amount, words = OUTCOMES[outcome]
    who, pin, lands_on = LEAVING[key]
    await pilot.press(key)
    if key == "ctrl+o":  # sign-out asks first (Enter, the default, stays: see the quit test)
        await wait_for_text(pilot, "Sign out, let it finish")
        assert app.operator is not None
        await pilot.press("y")
        await wait_for(pilot, lambda: app.operator is None, what="signed out")
    else:
        await wait_for_area(pilot, lands_on)
    # Gone from the screen, but the station follows it on the status bar …
    assert f"${amount} · invoice" in screen_text(app), outcome
    assert "F4 to see it" in screen_text(app)
    # … until the terminal has finished it, never cancelled by the screen going away.
    await wait_for(pilot, lambda: app.services.desk.current.done, 15, "the payment to end")
    await settle(pilot)
    [txn] = [t for t in await _ours(app) if t.amount.to_api() == amount]
    if outcome == "declined":
        assert txn.state is TxnState.DECLINED
    else:
        assert txn.is_approved, txn.state
        assert txn.approved.to_api() == amount
    assert "F4 to see it" in screen_text(app)  # the result waits to be seen
    if key == "ctrl+o":
        await sign_in(pilot, who, pin)
    await pilot.press("f4")
    await wait_for_area(pilot, "Payment")
    await wait_for_text(pilot, words)
    assert "F4 to see it" not in screen_text(app)
    # Enter goes to the invoice the payment was for, with its new state.
    await pilot.press("enter")
    await wait_for_area(pilot, "Invoice")
    await wait_for_text(pilot, "declined" if outcome == "declined" else "deposit")


@pytest.mark.parametrize("outcome", ["approved", "lost"])
async def test_quit_during_the_card_wait_asks_and_waits_for_the_terminal(demo_app, outcome):
    amount, _ = OUTCOMES[outcome]
    app = demo_app(card_wait_ms=4000)
    async with app.run_test(size=(80, 24)) as pilot:
        await _start_deposit(pilot, app, amount, "clerk", "1111")
        await pilot.press("ctrl+q")
        await wait_for_text(pilot, "A payment is at the terminal")
        await pilot.press("enter")  # the default: stay
        await wait_for_area(pilot, "Charge")
        assert app.is_running
        await pilot.press("ctrl+q")
        await wait_for_text(pilot, "Quit when it finishes")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, 15, "the app to close")
    # The app closed its services: read the ledger file again, as the next start would.
    folder = Path(app.services.settings.database_url.removeprefix("sqlite:///")).parent
    services = build_demo(folder, card_wait_ms=0, sync_on_start=False, pin_cost=TEST_PIN_COST)
    try:
        [txn] = await services.payments.list_transactions(limit=10)
        assert txn.is_approved, txn.state
    finally:
        await services.aclose()


async def test_plain_q_is_a_letter_and_f4_with_nothing_at_the_terminal(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press("escape")  # even with the focus off the search box
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running
        await pilot.press("f4")
        await settle(pilot)
        assert app.screen.AREA == "Lookup"
