"""Pure presentation of reconciliation events and the day's summary (no Textual, easy to test)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from posplus_tui.services.reconcile import EventKind, ReconcileEvent, ReconcileSummary

#: How each kind of event reads on screen: words first, never colour alone.
KIND_WORDS: dict[str, str] = {
    EventKind.QUEUED: "waiting to post",
    EventKind.POSTING: "posting",
    EventKind.POSTED: "posted",
    EventKind.VERIFIED: "posted and checked",
    EventKind.RETRY: "will retry",
    EventKind.NEEDS_ATTENTION: "NEEDS ATTENTION",
    EventKind.MISMATCH: "MISMATCH",
    EventKind.CANCELLED: "cancelled",
    EventKind.RESOLVED: "resolved by hand",
    EventKind.SETUP_ERROR: "SETUP PROBLEM",
}

FILTERS: dict[str, tuple[str, frozenset[str]]] = {
    "all": ("All events", frozenset()),
    "attention": (
        "Needs attention",
        frozenset({EventKind.NEEDS_ATTENTION, EventKind.SETUP_ERROR}),
    ),
    "mismatch": ("Mismatches", frozenset({EventKind.MISMATCH})),
}

METHOD_WORDS = {
    "card": "Card",
    "card_on_file": "Card on file",
    "keyed": "Keyed",
    "ach": "ACH",
    "link": "Payment link",
}


def visible(
    events: Iterable[ReconcileEvent], filter_name: str, limit: int = 500
) -> list[ReconcileEvent]:
    """The events the table shows: newest first, filtered, at most ``limit``.

    "All" is the whole history. The other filters are a to-do list: a posting is listed while
    its latest event is of that kind, and drops off once it is retried, resolved or posted."""
    kinds = FILTERS[filter_name][1]
    ordered = sorted(enumerate(events), key=lambda p: (p[1].time, p[1].id or 0, p[0]), reverse=True)
    if not kinds:
        return [e for _, e in ordered[:limit]]
    latest: dict[int, ReconcileEvent] = {}
    for _, e in ordered:
        if e.outbox_id is not None:
            latest.setdefault(e.outbox_id, e)
    chosen = [
        e
        for _, e in ordered
        if e.kind in kinds and (e.outbox_id is None or latest[e.outbox_id] is e)
    ]
    return chosen[:limit]


@dataclass(frozen=True)
class SummaryWords:
    methods: str
    states: str


def summary_words(summary: ReconcileSummary) -> SummaryWords:
    """Today's totals in one or two lines of words."""
    parts = [
        f"{METHOD_WORDS.get(m, m.title())} {t.count} · {t.amount.format()}"
        for m, t in sorted(summary.by_method.items())
    ]
    methods = "Today: " + (" │ ".join(parts) if parts else "no payments yet")
    states = (
        f"Posted {summary.posted.count} · Waiting {summary.pending.count} · "
        f"Needs attention {summary.needs_attention.count} · Total {summary.total.amount.format()}"
    )
    return SummaryWords(methods, states)
