"""Pure presentation rules: words for states, newest first, filters."""

from datetime import UTC, datetime, timedelta

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.summary import SummaryRow, summarize
from posplus_tui.ui.screens.lookup import short_date, status_words
from posplus_tui.ui.screens.reconcile import age_words
from posplus_tui.ui.screens.reconcile_view import filter_words, summary_words, to_do, visible


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


def test_the_to_do_counts_are_the_filters_counts_over_every_day() -> None:
    """Issue 14: the header said "Needs attention 0" (today) beside the filter's "(2)" (any
    day). Both now count the same thing and say the period."""

    def ev(day: int, kind: EventKind, outbox: int) -> ReconcileEvent:
        at = datetime(2026, 3, day, 10, 0, tzinfo=UTC)
        return ReconcileEvent(at, f"P{outbox}", "40336", Money(100), kind, "", outbox_id=outbox)

    events = [
        ev(1, EventKind.NEEDS_ATTENTION, 1),  # yesterday, still stuck
        ev(2, EventKind.NEEDS_ATTENTION, 2),
        ev(2, EventKind.MISMATCH, 3),
        ev(2, EventKind.VERIFIED, 4),
    ]
    todo = to_do(events)
    assert (todo.attention, todo.mismatches) == (2, 1)
    assert todo.words.startswith("Any day, postings: needs attention 2 (n) · mismatches 1 (m)")
    assert filter_words("attention", len(visible(events, "attention"))).startswith(
        "Showing: needs attention, any day (2)"
    )
    assert "(1)" in filter_words("mismatch", len(visible(events, "mismatch")))
    # Today's lines say they are today's, and no longer carry a count of their own to disagree.
    rows = [SummaryRow(datetime(2026, 3, 2, 9, tzinfo=UTC), "card", "post_payment", Money(100),
                       "verified")]  # fmt: skip
    words = summary_words(summarize(rows, datetime(2026, 3, 2).date(), UTC))
    assert words.methods.startswith("Today: ") and words.states.startswith("Today: ")
    assert "attention" not in words.states


def test_today_fits_one_line_at_80_columns_with_every_way_to_pay() -> None:
    """Issue 14: the summary wrapped at 80×24 once several methods were used."""
    day = datetime(2026, 3, 2, tzinfo=UTC)
    rows = [
        SummaryRow(day.replace(hour=9), method, "post_payment", Money(cents), "verified")
        for method, cents in (
            ("card", 1_234_567), ("card", 99_999), ("card_on_file", 45_000),
            ("keyed", 1_000_000), ("ach", 2_500_000),
        )
    ]  # fmt: skip
    summary = summarize(rows, day.date(), UTC)
    for width in (78, 60, 40):
        words = summary_words(summary, width)
        assert len(words.methods) <= width and len(words.states) <= width
    wide = summary_words(summary, 118)
    assert "Card 2 · $13,345.66" in wide.methods and "ACH 1 · $25,000.00" in wide.methods
    narrow = summary_words(summary, 78)
    assert "Card on file 1" in narrow.methods and "Keyed 1" in narrow.methods
