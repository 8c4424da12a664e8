"""Reconcile shows a link payment like a terminal one: its postings' states in the history, the
payment in today's totals under its own method (the screen: tests/ui/test_links_screen.py)."""

from __future__ import annotations

from datetime import datetime

from posplus_tui.services.reconcile import EventKind
from posplus_tui.ui.screens.reconcile_view import summary_words
from tests.links.conftest import World, pay


async def test_a_paid_link_is_in_reconcile_with_its_posting(world: World) -> None:
    inv = await world.invoice(0)
    link = await world.links.create(inv, operator=world.clerk)
    await pay(link.url)
    await world.links.poll_once()
    reconcile = world.services.reconcile
    assert reconcile is not None
    await reconcile.drain_once(wait_for_retries=False, deadline=15)
    kinds = [e.kind for e in await reconcile.history() if e.transaction_ref == link.reference]
    assert kinds[-1] is EventKind.VERIFIED and EventKind.POSTED in kinds
    events = [e for e in await reconcile.history() if e.transaction_ref == link.reference]
    assert {e.invoice_number for e in events} == {inv.number}
    assert {e.amount for e in events} == {inv.balance}
    summary = await reconcile.summary(datetime.now().astimezone().date())
    assert summary.by_method["link"].count == 1
    assert summary.by_method["link"].amount == inv.balance
    assert f"Payment link 1 · {inv.balance.format()}" in summary_words(summary).methods
