"""Column conversions shared by the reconcile store's parts (cents, Money, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from posplus_tui.domain.money import Money


def cents_or_none(value: Money | None) -> int | None:
    return None if value is None else value.cents


def money_or_none(cents: int | None) -> Money | None:
    return None if cents is None else Money(int(cents))


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
