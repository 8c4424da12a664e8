"""Where services and screens read the time: the real clock and a fixed one for tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where screens read the time: injected so snapshots never show the wall clock."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC).astimezone()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class FixedClock:
    """A clock that does not move unless told to: for snapshots and deterministic tests."""

    at: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 10, 30, tzinfo=UTC))
    ticks: float = 0.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.ticks
