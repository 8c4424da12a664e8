"""Reconcile's header and its filters count the same postings and say over which period
(issue 14: "Needs attention 0" beside "(2)")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import EventKind, ReconcileEvent
from tests.ui.conftest import screen_text, settle, sign_in, wait_for_text


async def test_the_header_and_the_filter_agree_about_yesterdays_stuck_posting(demo_app) -> None:
    app = demo_app()
    today = datetime(2026, 3, 2, 10, 29, tzinfo=UTC)  # the demo's fixed clock
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "supervisor", "2222")
        await pilot.press("f6")
        await settle(pilot)
        bus = app.services.reconcile.bus
        for outbox, at in ((1, today - timedelta(days=1)), (2, today)):
            for kind in (EventKind.QUEUED, EventKind.NEEDS_ATTENTION):
                bus.publish(
                    ReconcileEvent(
                        at, f"P{outbox}", "40336", Money(1000), kind, "stuck", outbox_id=outbox
                    )
                )
        await wait_for_text(pilot, "needs attention 2")
        text = screen_text(app)
        assert "Any day, postings: needs attention 2 (n) · mismatches 0 (m)" in text
        await pilot.press("n")
        await settle(pilot)
        text = screen_text(app)
        assert "Showing: needs attention, any day (2)" in text
        assert "Any day, postings: needs attention 2 (n)" in text
        assert "Today: posted" in text  # today's totals say they are today's
        # Retried: it leaves both counts at once.
        bus.publish(
            ReconcileEvent(today, "P1", "40336", Money(1000), EventKind.QUEUED, "", outbox_id=1)
        )
        await wait_for_text(pilot, "needs attention 1 (n)")
        assert "Showing: needs attention, any day (1)" in screen_text(app)
