"""The terminal's recent frames as text, for the Terminal screen's live log."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from posplus_tui.redaction import redact
from posplus_tui.services.hub import EventHub

if TYPE_CHECKING:  # imported when built: the app's first frame does not wait for them
    from drivers import FrameTrace


class FrameLog:
    """The terminal's recent frames as text (the driver masks card data before we see it)."""

    def __init__(self, size: int = 400) -> None:
        self.lines: deque[str] = deque(maxlen=size)
        self._hub: EventHub[str] = EventHub("terminal frames")

    def record(self, trace: FrameTrace | str) -> None:
        """The driver's trace callback."""
        line = redact(trace.line() if hasattr(trace, "line") else str(trace))
        self.lines.append(line)
        self._hub.publish(line)  # a broken listener never breaks the terminal

    def subscribe(self, listener: Callable[[str], object]) -> Callable[[], None]:
        return self._hub.subscribe(listener)
