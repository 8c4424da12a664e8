"""The terminal's recent frames as text, for the Terminal screen's live log."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from posplus_tui.redaction import redact

if TYPE_CHECKING:  # imported when built: the app's first frame does not wait for them
    from drivers import FrameTrace


class FrameLog:
    """The terminal's recent frames as text (the driver masks card data before we see it)."""

    def __init__(self, size: int = 400) -> None:
        self.lines: deque[str] = deque(maxlen=size)
        self._listeners: list[Callable[[str], object]] = []

    def record(self, trace: FrameTrace | str) -> None:
        """The driver's trace callback."""
        line = redact(trace.line() if hasattr(trace, "line") else str(trace))
        self.lines.append(line)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a broken listener never breaks the terminal
                listener(line)

    def subscribe(self, listener: Callable[[str], object]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None
