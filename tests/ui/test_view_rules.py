"""Pure presentation rules: words for states, newest first, filters."""

from datetime import UTC, datetime, timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import EventKind, ReconcileEvent
from posplus_tui.ui.screens.lookup import short_date, status_words
from posplus_tui.ui.screens.reconcile import age_words
from posplus_tui.ui.screens.reconcile_view import visible


def _event(minute: int, kind: EventKind) -> ReconcileEvent:
    at = datetime(2026, 3, 2, 10, minute, tzinfo=UTC)
    return ReconcileEvent(at, f"P{minute}", "40336", Money(100), kind, str(kind))


def test_newest_first_and_filters() -> None:
    events = [
        _event(1, EventKind.QUEUED),
        _event(2, EventKind.NEEDS_ATTENTION),
        _event(3, EventKind.MISMATCH),
        _event(3, EventKind.VERIFIED),
    ]
    assert [e.kind for e in visible(events, "all")] == [
        EventKind.VERIFIED,
        EventKind.MISMATCH,
        EventKind.NEEDS_ATTENTION,
        EventKind.QUEUED,
    ]
    assert [e.kind for e in visible(events, "attention")] == [EventKind.NEEDS_ATTENTION]
    assert [e.kind for e in visible(events, "mismatch")] == [EventKind.MISMATCH]


def test_the_needs_attention_view_drops_a_posting_once_it_moves_on() -> None:
    """The filtered views are a to-do list: a retried posting leaves it; one still stuck stays."""

    def ev(minute: int, kind: EventKind, outbox: int) -> ReconcileEvent:
        at = datetime(2026, 3, 2, 10, minute, tzinfo=UTC)
        return ReconcileEvent(at, f"P{outbox}", "40336", Money(100), kind, "", outbox_id=outbox)

    events = [
        ev(1, EventKind.NEEDS_ATTENTION, 1),
        ev(2, EventKind.NEEDS_ATTENTION, 2),
        ev(3, EventKind.QUEUED, 1),  # retried
        ev(4, EventKind.VERIFIED, 1),
    ]
    assert [e.outbox_id for e in visible(events, "attention")] == [2]
    assert len(visible(events, "all")) == 4


def test_words_for_invoice_states_and_times() -> None:
    class S:
        def __init__(self, total: int, balance: int, adj: bool = False) -> None:
            self.total, self.balance, self.is_adjustment = Money(total), Money(balance), adj

    assert status_words(S(100, 0)) == "paid"
    assert status_words(S(100, 40)) == "part paid"
    assert status_words(S(100, 100)) == "open"
    assert status_words(S(100, -5)) == "credit"
    assert status_words(S(100, 100, adj=True)) == "open (adj.)"
    assert short_date("2026-03-02") == "03/02/26"
    now = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert age_words(now - timedelta(seconds=5), now) == "just now"
    assert age_words(now - timedelta(minutes=4), now) == "4 min ago"
