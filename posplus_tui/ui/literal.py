"""Outside text shown as it is: ServiceTitan data, operator names and notes are never markup,
and no control character from them reaches the terminal (an ESC or OSC 8 sequence in a customer
name must not clear the screen or draw a link).

Widgets showing such text use ``markup=False`` (Static, Label) or :func:`cell` (DataTable cells,
which otherwise parse every string as markup), and pass the text through :func:`clean`.
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["cell", "cells", "clean"]

# Whole escape sequences first (OSC ... BEL/ST, CSI ..., two-character ESC x), then any other
# C0/C1 control character and DEL. Newlines and tabs stay (a tab becomes a space).
_SEQUENCE = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]?|\x9b[0-?]*[ -/]*[@-~]?|\x1b."
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(value: object) -> str:
    """``value`` as text without escape sequences or control characters."""
    text = "" if value is None else str(value)
    if not text.isprintable():
        text = _CONTROL.sub("", _SEQUENCE.sub("", text.replace("\t", " ")))
    return text


def cell(value: object) -> Text:
    """A DataTable cell that shows ``value`` literally (a ``str`` cell would be parsed as
    markup: ``[/bold]`` in an invoice item crashed the app)."""
    if isinstance(value, Text):
        return value
    return Text(clean(value), end="")


def cells(*values: object) -> list[Text]:
    return [cell(v) for v in values]
