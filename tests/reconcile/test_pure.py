"""Pure pieces of reconciliation: marker, back-off, payment-type resolution, summary, event bus."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile.backoff import Backoff
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.marker import carries_marker, find_marker, marker_for, memo_for
from posplus_tui.services.reconcile.payment_type import (
    PaymentTypeSetupError,
    TypeCandidate,
    resolve_payment_type,
)
from posplus_tui.services.reconcile.summary import SummaryRow, sparkline, summarize


def test_marker_round_trips_through_memo() -> None:
    marker = marker_for("A1B2C3")
    assert marker == "POSPLUS-A1B2C3"
    assert marker_for(marker) == marker
    memo = memo_for(marker, "VISA ••1111 sale")
    assert find_marker(memo) == marker
    assert carries_marker(marker, None, memo)
    # a longer marker that starts the same is a different transaction
    assert not carries_marker("POSPLUS-A1", memo)
    assert find_marker("paid by check", None) is None
    with pytest.raises(ValueError):
        marker_for("  ")


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=1000))
def test_backoff_grows_is_capped_and_respects_retry_after(attempt: int, retry_after: float) -> None:
    policy = Backoff(base=1, factor=2, cap=60, jitter=0.2)
    rng = random.Random(attempt)
    plain = policy.delay(attempt, rng=rng)
    assert 0 <= plain <= 60
    assert policy.delay(attempt, retry_after=retry_after, rng=random.Random(1)) >= min(
        retry_after, 1000
    )


def test_backoff_without_jitter_is_exponential() -> None:
    policy = Backoff(base=0.5, factor=2, cap=10, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 10]


def _types(*specs: tuple[str, str, bool]) -> list[TypeCandidate]:
    return [TypeCandidate(id=i, name=n, active=a) for i, n, a in specs]


def test_payment_type_single_active_match_wins_over_inactive_namesake() -> None:
    found = resolve_payment_type(
        "POS+", _types(("1", "Cash", True), ("7", "POS+", False), ("9", "POS+", True))
    )
    assert (found.id, found.name) == ("9", "POS+")


@pytest.mark.parametrize(
    ("types", "says", "fix"),
    [
        ([("1", "Cash", True)], "no payment type named “POS+”", "create one payment type"),
        ([("7", "POS+", False)], "inactive", "reactivate “POS+” (id 7)"),
        ([("3", "POS+", True), ("4", "POS+", True)], "2 active payment types", "keep exactly one"),
        ([("5", "pos+", True)], "ServiceTitan has “pos+”", "Rename it"),
    ],
)
def test_payment_type_setup_errors_say_what_to_fix(
    types: list[tuple[str, str, bool]], says: str, fix: str
) -> None:
    with pytest.raises(PaymentTypeSetupError) as info:
        resolve_payment_type("POS+", _types(*types))
    assert says in info.value.message
    assert fix in info.value.fix
    assert "Payment Types" in info.value.fix or "payment_type_name" in info.value.fix


def test_summary_groups_by_method_and_state_for_the_local_day() -> None:
    day = date(2026, 11, 25)
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    rows = [
        SummaryRow(at, "card", "post_payment", Money(10_000), "verified"),
        SummaryRow(at, "card", "post_payment", Money(2_550), "pending"),
        SummaryRow(at + timedelta(hours=2), "ach", "post_payment", Money(5_000), "needs_attention"),
        SummaryRow(at + timedelta(hours=2), "card", "post_refund", Money(1_000), "posted"),
        SummaryRow(at - timedelta(days=1), "card", "post_payment", Money(99_999), "verified"),
    ]
    s = summarize(rows, day, UTC)
    assert s.by_method["card"].count == 3
    assert s.by_method["card"].amount == Money(10_000 + 2_550 - 1_000)
    assert s.by_method["ach"].amount == Money(5_000)
    assert (s.posted.count, s.posted.amount) == (2, Money(9_000))
    assert (s.pending.count, s.needs_attention.count) == (1, 1)
    assert s.total.count == 4
    assert s.per_hour[9] == 2 and s.per_hour[11] == 2 and sum(s.per_hour) == 4
    line = sparkline(s.per_hour)
    assert len(line) == 24 and line[9] == "█" and line[0] == "▁"


async def test_event_bus_fans_out_to_callbacks_and_streams() -> None:
    bus = EventBus()
    seen: list[EventKind] = []
    async_seen: list[str] = []

    async def slow(event: ReconcileEvent) -> None:
        async_seen.append(event.message)

    bus.subscribe(lambda e: seen.append(e.kind))
    bus.subscribe(slow)
    broken = bus.subscribe(lambda e: 1 / 0)

    received: list[ReconcileEvent] = []

    async def listen() -> None:
        async for event in bus.stream():
            received.append(event)

    task = asyncio.create_task(listen())
    await asyncio.sleep(0)
    ev = ReconcileEvent.now(
        EventKind.POSTED, "Posted", transaction_ref="R1", invoice_number="1001", amount=Money(500)
    )
    bus.publish(ev)
    broken()
    bus.publish(ReconcileEvent.now(EventKind.VERIFIED, "Verified"))
    bus.close()
    await asyncio.wait_for(task, 2)
    assert [e.kind for e in received] == [EventKind.POSTED, EventKind.VERIFIED]
    assert received[0].amount == Money(500) and received[0].invoice_number == "1001"
    assert seen == [EventKind.POSTED, EventKind.VERIFIED]
    assert async_seen == ["Posted", "Verified"]
