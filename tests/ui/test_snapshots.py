"""Every screen and its important states, as SVG snapshots (80×24, and 120×40 for the wide
layouts). Deterministic: a clock that never moves, the seeded sandbox, the simulator's fixed
cards; cursors do not blink. Update with ``pytest --snapshot-update`` and review the SVGs."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import Input

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import EventKind, ReconcileEvent
from tests.ui.conftest import (
    invoice_number,
    open_invoice,
    settle,
    sign_in,
    wait_for,
    wait_for_text,
)


def _still(app) -> None:
    for field in app.screen.query(Input):
        field.cursor_blink = False


def _snap(snap_compare, app, steps=None, size=(80, 24)) -> bool:
    async def run_before(pilot) -> None:
        await settle(pilot)
        if steps is not None:
            await steps(pilot)
        await settle(pilot)
        _still(pilot.app)

    return snap_compare(app, terminal_size=size, run_before=run_before)


async def _clerk_on_invoice(pilot, case: str = "unpaid_invoice_id") -> None:
    await sign_in(pilot, "clerk", "1111")
    await open_invoice(pilot, invoice_number(pilot.app, case))


async def _outcome(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.query("#outcome-panel"), what="the outcome")


def test_sign_in(snap_compare, demo_app) -> None:
    assert _snap(snap_compare, demo_app())


def test_sign_in_lockout(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "clerk", "0000")
        for _ in range(4):
            await pilot.press(*"0000", "enter")
            await settle(pilot)
        await wait_for_text(pilot, "locked")

    assert _snap(snap_compare, demo_app(), steps)


def test_lookup_ambiguous_number(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "clerk", "1111")
        await pilot.press(*"40990", "enter")
        await settle(pilot)
        await wait_for_text(pilot, "Nothing is chosen for you")

    assert _snap(snap_compare, demo_app(), steps)


def test_lookup_ambiguous_number_wide(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "clerk", "1111")
        await pilot.press(*"40990", "enter")
        await settle(pilot)
        await wait_for_text(pilot, "Nothing is chosen for you")

    assert _snap(snap_compare, demo_app(), steps, size=(120, 40))


def test_invoice(snap_compare, demo_app) -> None:
    assert _snap(snap_compare, demo_app(), _clerk_on_invoice)


def test_charge_form(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("c")

    assert _snap(snap_compare, demo_app(), steps)


def test_charge_waiting_for_card(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("f2")
        await wait_for_text(pilot, "waiting for card")

    assert _snap(snap_compare, demo_app(card_wait_ms=30_000), steps)


def test_charge_approved(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("f2")
        await _outcome(pilot)

    assert _snap(snap_compare, demo_app(), steps)


def test_charge_declined(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("d", *"10.01", "f2")
        await _outcome(pilot)

    assert _snap(snap_compare, demo_app(), steps)


def test_refund_asks_a_supervisor(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("d", *"80.00", "f2")
        await _outcome(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.transactions, what="our payment")
        await pilot.press("r")
        await wait_for_text(pilot, "Left to refund")
        pilot.app.screen.query_one("#reason").value = "customer returned a part"
        await pilot.press("f2")
        await wait_for_text(pilot, "Supervisor approval needed")

    assert _snap(snap_compare, demo_app(), steps)


def test_card_on_file(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("d")
        await settle(pilot)
        pilot.app.screen.query_one("#save-card").value = True
        await pilot.press(*"50.00", "f2")
        await _outcome(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: pilot.app.screen.cards, what="the saved card")
        await settle(pilot)  # the table lays out its new rows when idle

    assert _snap(snap_compare, demo_app(), steps)


def test_reconciliation_needs_attention(snap_compare, demo_app) -> None:
    """The screen's rendering of a stream with a posting that needs a person. The events are
    published on the service's own bus with fixed times (the real path is in test_flows)."""
    app = demo_app()
    at = datetime(2026, 3, 2, 10, 29, tzinfo=UTC)

    async def steps(pilot) -> None:
        await sign_in(pilot, "supervisor", "2222")
        await pilot.press("f6")
        await settle(pilot)
        bus = pilot.app.services.reconcile.bus
        amount = Money(12725)
        for kind, message in (
            (EventKind.QUEUED, "Payment queued for ServiceTitan."),
            (EventKind.POSTING, "Posting the payment to ServiceTitan."),
            (
                EventKind.NEEDS_ATTENTION,
                "ServiceTitan refused the payment: the invoice is closed. Reopen it in "
                "ServiceTitan, then press r to retry.",
            ),
        ):
            bus.publish(
                ReconcileEvent(at, "P260302TEST0001", "40336", amount, kind, message, outbox_id=1)
            )
        await wait_for_text(pilot, "NEEDS ATTENTION")
        await pilot.press("n")

    assert _snap(snap_compare, app, steps)


def test_terminal(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "technician", "3333")
        await pilot.press("t")
        await wait_for_text(pilot, "The terminal answered")

    assert _snap(snap_compare, demo_app(), steps)


def test_setup_wrong_secret(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "admin", "4444")
        await pilot.press("f8")
        await wait_for_text(pilot, "Connected: token received")
        pilot.app.screen.query_one("#client_secret").value = "cs1.not-the-right-secret"
        await pilot.press("ctrl+t")
        await wait_for_text(pilot, "did not accept")

    assert _snap(snap_compare, demo_app(), steps)


def test_help(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "clerk", "1111")
        await pilot.press("f1")

    assert _snap(snap_compare, demo_app(), steps)


def test_payment_goes_on_after_leaving(snap_compare, demo_app) -> None:
    """F5 during the card wait: Lookup, with the payment on the status bar."""

    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("d", *"25.00", "f2")
        await wait_for_text(pilot, "waiting for card")
        await pilot.press("f5")
        await wait_for_text(pilot, "F4 to see it")

    assert _snap(snap_compare, demo_app(card_wait_ms=120_000), steps)


def test_payment_in_flight_f4(snap_compare, demo_app) -> None:
    """F4 from another area: the payment at the terminal, live."""

    async def steps(pilot) -> None:
        await _clerk_on_invoice(pilot)
        await pilot.press("d", *"25.00", "f2")
        await wait_for_text(pilot, "waiting for card")
        await pilot.press("f6")
        await wait_for_text(pilot, "F4 to see it")
        await pilot.press("f4")
        await wait_for_text(pilot, "Ask the customer to tap")

    assert _snap(snap_compare, demo_app(card_wait_ms=120_000), steps)


def test_setup_dejavoo_terminal(snap_compare, setup_only_app) -> None:
    """Setup with a Dejavoo (SPIn) terminal: family, address, TPN, auth key (never shown)."""
    from posplus_tui.config import Settings

    app = setup_only_app(Settings(terminal_url="spin+https://spinpos.net/spin?tpn=Z11AB0123456"))

    async def steps(pilot) -> None:
        pilot.app.screen.query_one("#spin_tpn").focus()
        await settle(pilot)

    assert _snap(snap_compare, app, steps, size=(100, 40))


def test_invoice_on_a_spin_terminal(snap_compare, demo_app) -> None:
    """A Dejavoo (SPIn) terminal: no card on file, keyed card or ACH offered (capability flags)."""
    assert _snap(snap_compare, demo_app(terminal="spin"), _clerk_on_invoice)
