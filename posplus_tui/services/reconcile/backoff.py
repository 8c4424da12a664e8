"""When to try again: exponential back-off with jitter, honouring the server's ``Retry-After``.

Pure arithmetic so it can be tested exhaustively; the worker turns a delay into ``next_attempt_at``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n`` (1-based): ``base * factor**(n-1)``, capped, with jitter."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.2

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next try after ``attempt`` failed tries.

        A ``Retry-After`` from the server is a floor: we never come back sooner than it asks.
        """
        n = max(1, attempt)
        raw = min(self.cap, self.base * self.factor ** (n - 1))
        if self.jitter:
            r = (rng or random).random()
            raw = raw * (1 - self.jitter + 2 * self.jitter * r)
            raw = min(raw, self.cap)
        if retry_after is not None and retry_after > raw:
            raw = min(max(retry_after, 0.0), max(self.cap, retry_after))
        return max(0.0, raw)


DEFAULT_BACKOFF = Backoff()
