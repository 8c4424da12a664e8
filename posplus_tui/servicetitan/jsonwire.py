"""JSON on the wire without floats: money goes out as exact decimal numbers, comes in as Decimal.

ServiceTitan takes amounts in request bodies as JSON numbers. ``json`` can only write numbers from
floats, so decimals are written as marked strings and the marks are then removed.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]

_MARK = "\u0002DEC:"
_END = "\u0003"
_MARKED = re.compile(r'"\\u0002DEC:(-?[0-9]+(?:\.[0-9]+)?)\\u0003"')


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"{obj} is not a finite amount")
        return f"{_MARK}{obj:f}{_END}"
    to_api = getattr(obj, "to_api", None)
    if callable(to_api):  # domain Money → exact decimal number
        return f"{_MARK}{to_api()}{_END}"
    raise TypeError(f"{type(obj).__name__} cannot be sent as JSON")


def dumps(obj: Any) -> bytes:
    """Serialise ``obj``; ``Decimal`` and ``Money`` become plain JSON numbers (no float step)."""
    text = json.dumps(obj, default=_default, separators=(",", ":"))
    if _MARK[0] in text or "\\u0002" in text:
        text = _MARKED.sub(r"\1", text)
    return text.encode()


def loads(content: bytes | str) -> Any:
    """Parse JSON with every non-integer number as ``Decimal``."""
    return json.loads(content, parse_float=Decimal)
