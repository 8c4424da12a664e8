"""Today's numbers for the reconciliation screen: counts and amounts by method and by state.

Pure arithmetic over plain rows so it can be tested without a database; the worker's store feeds it
the day's outbox rows joined to their transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import (
    OUTBOX_ATTENTION_STATES,
    OUTBOX_POSTED_STATES,
    OutboxState,
)

#: Outbox states grouped the way a supervisor reads them.
POSTED_STATES = OUTBOX_POSTED_STATES
PENDING_STATES = frozenset({OutboxState.PENDING, OutboxState.POSTING})
ATTENTION_STATES = OUTBOX_ATTENTION_STATES


@dataclass(frozen=True)
class SummaryRow:
    """One outbox row of the day: when, how (card/ACH/...), what (sale/refund/void), how much."""

    created_at: datetime
    method: str
    action: str
    amount: Money
    state: str


@dataclass
class Tally:
    count: int = 0
    amount: Money = field(default_factory=Money.zero)

    def add(self, amount: Money) -> None:
        self.count += 1
        self.amount = self.amount + amount


@dataclass
class ReconcileSummary:
    """What the summary panel shows. Amounts are signed: refunds count negative."""

    day: date
    by_method: dict[str, Tally] = field(default_factory=dict)
    posted: Tally = field(default_factory=Tally)
    pending: Tally = field(default_factory=Tally)
    needs_attention: Tally = field(default_factory=Tally)
    cancelled: Tally = field(default_factory=Tally)
    total: Tally = field(default_factory=Tally)
    #: Postings created in each local hour 0–23 (a sparkline of the day).
    per_hour: list[int] = field(default_factory=lambda: [0] * 24)


def signed_amount(action: str, amount: Money) -> Money:
    """Refunds reduce the day's takings; voids cancel a sale and count as its negative."""
    if action in {"post_refund", "void_payment"}:
        return -abs(amount)
    return abs(amount)


def summarize(rows: Iterable[SummaryRow], day: date, tz: tzinfo | None = None) -> ReconcileSummary:
    """Fold the rows whose local date is ``day`` into a :class:`ReconcileSummary`."""
    summary = ReconcileSummary(day=day)
    for row in rows:
        local = row.created_at.astimezone(tz) if row.created_at.tzinfo else row.created_at
        if local.date() != day:
            continue
        amount = signed_amount(row.action, row.amount)
        method = row.method or "other"
        summary.by_method.setdefault(method, Tally()).add(amount)
        summary.total.add(amount)
        summary.per_hour[local.hour] += 1
        if row.state in POSTED_STATES:
            summary.posted.add(amount)
        elif row.state in PENDING_STATES:
            summary.pending.add(amount)
        elif row.state in ATTENTION_STATES:
            summary.needs_attention.add(amount)
        elif row.state == OutboxState.CANCELLED:
            summary.cancelled.add(amount)
    return summary


def sparkline(values: list[int]) -> str:
    """A one-line bar chart (``▁▂▃▄▅▆▇█``) for the per-hour counts."""
    bars = "▁▂▃▄▅▆▇█"
    top = max(values, default=0)
    if top <= 0:
        return bars[0] * len(values)
    return "".join(bars[min(len(bars) - 1, (v * (len(bars) - 1) + top - 1) // top)] for v in values)
