"""Card data stopped at the door: a search, a reason or a note holding something card-like is
refused in words before it is sent, stored or logged (see :func:`posplus_tui.redaction.card_data_in`).
"""

from __future__ import annotations

from posplus_tui.redaction import card_data_in
from posplus_tui.services.errors import InvalidRequest

__all__ = ["MAX_TEXT", "refuse_card_data"]

#: The longest free text a search, reason or note may be (longer is refused in words).
MAX_TEXT = 4300


def refuse_card_data(text: str | None, what: str = "text", *, limit: int = MAX_TEXT) -> None:
    """Raise :class:`InvalidRequest` when ``text`` holds card data or is longer than ``limit``."""
    if not text:
        return
    if len(text) > limit:
        raise InvalidRequest(
            f"The {what} is too long ({len(text)} characters; at most {limit}).",
            f"Shorten the {what} and try again.",
        )
    found = card_data_in(text)
    if found:
        raise InvalidRequest(
            f"The {what} looks like it holds {found}. Card data is never stored or sent.",
            f"Remove it from the {what}: a card is only ever read by the terminal.",
        )
