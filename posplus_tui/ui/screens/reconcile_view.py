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


def _fit(options: Iterable[str], width: int) -> str:
    """The first of ``options`` (longest first) that fits ``width``, else the last."""
    chosen = ""
    for chosen in options:
        if len(chosen) <= width:
            return chosen
    return chosen


def summary_words(summary: ReconcileSummary, width: int = 78) -> SummaryWords:
    """Today's totals, each on one line of at most ``width`` characters (80 columns less the
    padding): shorter forms are used rather than letting a line wrap."""
    tallies = sorted(summary.by_method.items())
    names = [METHOD_WORDS.get(m, m.title()) for m, _ in tallies]
    if not tallies:
        methods = "Today: no payments yet"
    else:
        methods = _fit(
            (
                "Today: " + " │ ".join(f"{n} {t.count} · {t.amount.format()}"
                                     for n, (_, t) in zip(names, tallies, strict=True)),
                "Today: " + " │ ".join(f"{n} {t.count} {t.amount.format()}"
                                     for n, (_, t) in zip(names, tallies, strict=True)),
                "Today: " + " · ".join(f"{n} {t.count}"
                                     for n, (_, t) in zip(names, tallies, strict=True)),
                f"Today: {summary.total.count} payments · {summary.total.amount.format()}",
            ),
            width,
        )  # fmt: skip
    states = _fit(
        (
            f"Today: posted {summary.posted.count} · waiting {summary.pending.count} · "
            f"total {summary.total.amount.format()}",
            f"Today: posted {summary.posted.count} · waiting {summary.pending.count}",
        ),
        width,
    )
    return SummaryWords(methods, states)


@dataclass(frozen=True)
class ToDo:
    """What needs a person, over every day in the list: the same counts the n and m filters
    show, so the header and the filter line always agree."""

    attention: int
    mismatches: int

    @property
    def words(self) -> str:
        return f"Any day, postings: needs attention {self.attention} (n) · mismatches {self.mismatches} (m)"


def to_do(events: Iterable[ReconcileEvent]) -> ToDo:
    listed = list(events)
    return ToDo(
        len(visible(listed, "attention", limit=len(listed))),
        len(visible(listed, "mismatch", limit=len(listed))),
    )


def filter_words(filter_name: str, count: int) -> str:
    """The line above the list: what it shows, over which period, how many, and the keys."""
    label = FILTERS[filter_name][0].lower()
    return f"Showing: {label}, any day ({count}) — a all · n attention · m mismatches"
