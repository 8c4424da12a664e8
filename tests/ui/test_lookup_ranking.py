"""Lookup as a clerk types a broad name: the best matches first (open balances, then the newest),
the list capped with a sentence saying so, and a burst of keys answered for the last key only."""

from __future__ import annotations

from textual import events

from posplus_tui.ui.screens.lookup import SHOWN
from tests.ui.conftest import settle, sign_in, wait_for, wait_for_text


async def test_a_broad_search_lists_the_best_first_and_says_there_are_more(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press("m")
        await wait_for_text(pilot, f"More than {SHOWN} invoices match “m”")
        results = app.screen.results
        assert len(results) > SHOWN
        keys = [(s.balance.cents <= 0, s.invoice_date) for s in results]
        opens = [k for k in keys if not k[0]]
        assert keys[: len(opens)] == opens  # every open balance before any paid invoice
        assert [d for _, d in opens] == sorted((d for _, d in opens), reverse=True)
        # a burst of keys: the list ends up answering the last of them, and nothing older
        for ch in "artinez":
            app.post_message(events.Key(ch, ch))
        await wait_for(pilot, lambda: app.screen.shown_for == "martinez", what="the last key")
        await settle(pilot)
        assert app.screen.shown_for == "martinez"
        assert app.screen.results
        assert all("martinez" in s.customer_name.casefold() for s in app.screen.results)
