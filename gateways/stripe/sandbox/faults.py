"""Faults on demand: what real networks and providers do that a happy fake never would.

Each fault applies to the next ``count`` API calls that match ``method`` / ``path`` (substring).
The ``commit-*`` kinds do the work first, then spoil the reply: the object exists, the caller
cannot tell. Stripe saves the first result of an idempotent request, even a 500, and replays it
[T4]; so ``commit-500`` is saved and replayed, while ``commit-empty``, ``commit-truncated`` and
``commit-drop`` (damage on the way) leave the good result saved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["KINDS", "Fault", "Faults"]

KINDS = (
    "slow",  # wait ``seconds`` before doing anything
    "status",  # answer ``status`` (default 500) without doing anything
    "commit-500",  # do it, then answer 500 api_error (saved for idempotent replay)
    "commit-empty",  # do it, then answer 200 with an empty body
    "commit-truncated",  # do it, then answer 200 with half the JSON
    "commit-drop",  # do it, then cut the connection mid-reply
)


@dataclass
class Fault:
    kind: str
    count: int = 1
    seconds: float = 5.0
    status: int = 500
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path and self.path not in path)


class Faults:
    """A queue of faults; thread-safe (the CLI adds them while the server runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault {fault.kind!r}; choose one of: {', '.join(KINDS)}")
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault, used up by one call."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)
