"""All outside text is literal: hostile names, invoice items, customers and notes walk every
screen of the demo app without crashing it, without markup being obeyed (no bold closed early,
no clickable link) and without a control character reaching the terminal."""

from __future__ import annotations

import re

from posplus_tui.domain.roles import Role
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

OSC8 = "\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07"
ITEM = f"Pump [/bold] [link=https://evil.example/]free[/link] {OSC8} \x1b[2J\x07 [b]unbalanced"
CUSTOMER = f"Bob [/b] Hostile {OSC8} [i]"
OPERATOR = "Ana [/b] [link=https://evil.example/]x"
NOTE = "entered by hand [/bold] [link=https://evil.example/]x[/link] [red]"

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _check_screen(app, seen: list[str]) -> None:
    """No control character and no link anywhere on the screen now; remembers the words."""
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            assert not CONTROL.search(segment.text), repr(segment.text)
            style = segment.style
            assert style is None or not style.link, (segment.text, style.link)
    assert app.is_running, "the app stopped"
    seen.append(screen_text(app))


async def test_hostile_text_is_shown_literally_on_every_screen(demo_app) -> None:
    app = demo_app()
    services = app.services
    sandbox = services.sandbox
    wanted = sandbox.cases["unpaid_invoice_id"]
    rec = sandbox.store.invoices[wanted]
    rec.items = [(ITEM, 1, rec.sub_cents)]
    rec.summary = ITEM
    sandbox.store.customers[rec.customer_id].name = CUSTOMER
    admin = next(o for o in services.operators.list_sync() if o.role is Role.ADMIN)
    services.operators.add_sync(OPERATOR, "admin", "8642", by=admin)
    number = invoice_number(app, "unpaid_invoice_id")
    seen: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await sign_in(pilot, OPERATOR, "8642")
        await wait_for_area(pilot, "Lookup")
        _check_screen(app, seen)
        assert OPERATOR in seen[-1]  # the status bar names them, brackets and all

        await open_invoice(pilot, number)
        await wait_for_text(pilot, "Bob [/b] Hostile")
        _check_screen(app, seen)
        for tab in ("tab-items", "tab-payments", "tab-ours"):
            tabs = app.screen.query("#invoice-tabs")
            if tabs:
                tabs.first().active = tab
                await settle(pilot)
                _check_screen(app, seen)
        assert any("Pump [/bold] [link=https://evil" in s for s in seen)

        # Charge it (fails to post: ServiceTitan refuses), so there is a posting to note by hand.
        sandbox.faults.fail_next(3, 400, method="POST", path_contains="/payments")
        await pilot.press("c")
        await settle(pilot)
        _check_screen(app, seen)
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen.query("#outcome-panel"), what="the outcome")
        _check_screen(app, seen)
        await pilot.press("enter")
        await settle(pilot)
        _check_screen(app, seen)

        await pilot.press("f6")
        await settle(pilot)
        await wait_for_text(pilot, "needs attention 1 (n)", timeout=20)
        sandbox.faults.clear()
        postings = await services.reconcile.postings()
        me = next(o for o in services.operators.list_sync() if o.name == OPERATOR)
        await services.reconcile.mark_posted_by_hand(postings[0].outbox_id, NOTE, operator=me)
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f6")
        await settle(pilot)
        await wait_for_area(pilot, "Reconcile")
        for _ in range(6):
            await pilot.press("down")
            await settle(pilot)
            _check_screen(app, seen)

        for key, area in (("f7", "Terminal"), ("f8", "Setup")):
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
            await wait_for_area(pilot, area)
            _check_screen(app, seen)
        assert any(OPERATOR in s for s in seen[-1:])  # Setup's operators table

        await pilot.press("f1")
        await settle(pilot)
        _check_screen(app, seen)
    assert app.return_code in (None, 0)
