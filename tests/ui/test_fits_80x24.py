"""Everything fits at 80×24 (issue 14): the Memo column, the save-card box, a technician's
refusal in Setup's Operators, the status bar at its longest. Snapshots at 80×24, and the
status bar's words checked for every state it can show."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from textual.widgets import Input

from posplus_tui.domain.money import Money
from posplus_tui.services.container import StatusSnapshot
from posplus_tui.ui.screens.invoice import memo_words
from posplus_tui.ui.widgets import health_line
from tests.ui.conftest import (
    invoice_number,
    open_invoice,
    settle,
    sign_in,
    wait_for,
    wait_for_text,
)

SIZE = (80, 24)


def _snap(snap_compare, app, steps) -> bool:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await steps(pilot)
        await settle(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    return snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_memo_column_at_80_columns(snap_compare, demo_app) -> None:
    """A payment of ours with a long memo: the card's words come first and nothing is cut
    inside a word (it showed "MASTE", "DISCO")."""

    async def steps(pilot) -> None:
        app = pilot.app
        sandbox = app.services.sandbox
        invoice_id = sandbox.cases["part_paid_invoice_id"]
        async with sandbox.client() as st:
            await st.create_payment(
                sandbox.cases["pos_plus_type_id"],
                [(invoice_id, Money(1500))],
                memo="POSPLUS-P260302TEST0001 MASTERCARD ••••4444 deposit auth A00002",
                paid_on=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            )
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(app, "part_paid_invoice_id"))
        app.screen.query_one("#invoice-tabs").active = "tab-payments"
        await settle(pilot)
        await wait_for_text(pilot, "MASTERCARD ••••4444")
        table = app.screen.query_one("#payments")
        assert table.virtual_size.width <= table.size.width  # no column runs off the screen

    assert _snap(snap_compare, demo_app(), steps)


def test_save_card_ticked_at_80_columns(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(pilot.app, "unpaid_invoice_id"))
        await pilot.press("d")
        await settle(pilot)
        pilot.app.screen.query_one("#save-card").value = True
        await settle(pilot)
        await wait_for_text(pilot, "Save card: YES (customer agreed)")
        box = pilot.app.screen.query_one("#save-card")
        assert pilot.app.screen.region.contains_region(box.region)

    assert _snap(snap_compare, demo_app(), steps)


def test_setup_refuses_a_technician_operators_in_view(snap_compare, demo_app) -> None:
    async def steps(pilot) -> None:
        await sign_in(pilot, "technician", "3333")
        await pilot.press("f8")
        await settle(pilot)
        await wait_for_text(pilot, "Connected: token received")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await wait_for_text(pilot, "Only an admin can add")
        box = pilot.app.screen.query_one("#operators-result")
        await wait_for(
            pilot,
            lambda: pilot.app.screen.region.contains_region(box.region),
            what="the refusal in view",
        )

    assert _snap(snap_compare, demo_app(), steps)


def test_the_status_bar_never_cuts_its_end_off_at_80_columns() -> None:
    """Every state the bar can show, with a long name: the outbox and what needs a person are
    always there (it was cut after "ServiceTitan reachable │")."""
    terminals = ["ready", "not tested yet", "busy with a payment", "did not answer last time",
                 "did not answer", "not set up", "checking…"]  # fmt: skip
    servicetitans = ["reachable", "unreachable", "refused (see Setup)", "not set up", "checking…"]
    names = ["clerk", "supervisor", "Alexandria Montgomery-Smith"]
    for term, st, name, depth, attention in itertools.product(
        terminals, servicetitans, names, (None, 0, 1234), (0, 12)
    ):
        line = health_line(StatusSnapshot(term, st, depth, attention), name, 78)
        assert len(line) <= 78, line
        if attention:
            assert line.endswith((f"{attention} to check", f"{attention} need attention"))
        assert ("Outbox —" if depth is None else f"Outbox {depth}") in line
    wide = health_line(StatusSnapshot("ready", "reachable", 0, 2), "clerk", 118)
    assert wide == "clerk │ Terminal ready │ ServiceTitan reachable │ Outbox 0 │ 2 need attention"


def test_memo_words_cut_between_words() -> None:
    memo = "POSPLUS-P260302TEST0001 MASTERCARD ••••4444 deposit auth A00002"
    assert memo_words(memo, True, 80).startswith("MASTERCARD ••••4444 deposit")
    short = memo_words(memo, True, 28)
    assert len(short) <= 28 and short.endswith(" …") and "MASTE " not in short + " "
    assert all(word in memo for word in short.removesuffix(" …").split())
    assert memo_words("Paid in field", False, 40) == "(inactive) Paid in field"
