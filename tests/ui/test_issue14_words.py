"""The rest of issue 14's list, each as a user would check it: k and a at 80×24, ACH not sent
"to the terminal", the frame log follows new frames, "posted by hand" refused before anything
is asked on a posting already checked, advice that points at things that exist, and help texts
without raw markup (the approval dialog's words are checked in test_snapshots' refund)."""

from __future__ import annotations

import pytest

from posplus_tui.cli import main
from posplus_tui.services.reconcile.st_poster import POST_DISABLED_FIX
from posplus_tui.ui.screens.reconcile import ReconcileScreen
from tests.ui.conftest import (
    invoice_number,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for,
    wait_for_area,
    wait_for_text,
)


async def test_k_and_a_are_shown_at_80x24_and_ach_is_not_sent_to_the_terminal(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await wait_for_text(pilot, "Also: k card typed on the terminal · a bank account (ACH)")
        await pilot.press("a")
        await wait_for_area(pilot, "Charge")
        await wait_for_text(pilot, "Send ACH payment (F2)")
        assert "Send to terminal" not in screen_text(app)
        await pilot.press("escape")
        await wait_for_area(pilot, "Invoice")
        await pilot.press("k")
        await wait_for_area(pilot, "Charge")
        await wait_for_text(pilot, "Send to terminal (F2)")
        assert "f2 Send payment" in screen_text(app)  # the footer fits both


async def test_the_frame_log_follows_new_frames(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "technician", "3333")
        await wait_for_area(pilot, "Terminal")
        log = app.screen.query_one("#frames")
        for n in range(4):  # enough frames to fill the little log several times over
            await pilot.press("t")
            await settle(pilot)
            await wait_for_text(pilot, "The terminal answered")
            await wait_for(pilot, lambda: log.line_count > 0, what="frames")
            await pilot.pause()
            assert log.max_scroll_y > 0 or n == 0
            assert log.scroll_y == log.max_scroll_y, "the newest frame is not in view"


async def test_posted_by_hand_on_a_checked_posting_is_refused_before_anything_is_asked(
    demo_app,
) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "supervisor", "2222")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await pilot.press("d", *"10.00", "f2")
        await wait_for(pilot, lambda: app.screen.query("#outcome-panel"), what="the outcome")
        await pilot.press("enter")
        await wait_for_text(pilot, "posted and checked", timeout=20)
        await pilot.press("f6")
        await wait_for_area(pilot, "Reconcile")
        await wait_for_text(pilot, "posted and checked")
        screen = app.screen
        assert isinstance(screen, ReconcileScreen)
        stack = len(app.screen_stack)
        await pilot.press("h")
        await settle(pilot)
        assert len(app.screen_stack) == stack  # no note, no PIN asked
        assert "already posted and checked" in screen.why_disabled("by_hand")
        assert not screen.active_bindings["h"].enabled  # greyed in the footer


def test_the_advice_for_posting_switched_off_points_at_what_exists() -> None:
    """It pointed to a README section ("Posting channel") that does not exist."""
    assert "Posting channel" not in POST_DISABLED_FIX
    assert "h on Reconcile" in POST_DISABLED_FIX
    keys = {b.key: b.description for b in ReconcileScreen.BINDINGS}
    assert keys["h"] == "Posted by hand"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["reconcile", "--help"], "reconcile"),
        (["demo", "--help"], "Only the ledger is kept"),
    ],
)
def test_help_texts_are_plain_words(capsys, argv, words) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert words in out
    assert "``" not in out and ":func:" not in out and ":class:" not in out
