"""Stripe's request encoding: ``application/x-www-form-urlencoded`` with deepObject nesting
(``line_items[0][price]=price_1``, ``expand[]=line_items``), decoded to plain dicts and lists.

Pure functions: the sandbox decodes with them and the tests encode with them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FormError", "decode_form"]

_KEY = re.compile(r"^(?P<head>[^\[\]]+)(?P<rest>(?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """A body that is not valid deepObject form encoding (answered as ``invalid_request_error``)."""


def _listify(node: Any) -> Any:
    """Dicts keyed ``"0".."n"`` (from ``a[0][b]``) become lists; ``[]`` appends already did."""
    if isinstance(node, dict):
        fixed = {k: _listify(v) for k, v in node.items()}
        if fixed and all(k.isdigit() for k in fixed):
            indexes = sorted(int(k) for k in fixed)
            if indexes == list(range(len(indexes))):
                return [fixed[str(i)] for i in indexes]
        return fixed
    if isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def decode_form(text: str) -> dict[str, Any]:
    """``a[b][0][c]=1&e[]=x&e[]=y`` → ``{"a": {"b": [{"c": "1"}]}, "e": ["x", "y"]}``.

    Values stay strings: each operation converts and checks its own parameters."""
    out: dict[str, Any] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise FormError(f"Invalid form body: {exc}") from exc
    for raw_key, value in pairs:
        m = _KEY.match(raw_key)
        if not m:
            raise FormError(f"Invalid parameter name: {raw_key}")
        parts = [m["head"], *_PART.findall(m["rest"])]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if part == "":
                if not isinstance(node, list):
                    raise FormError(f"Invalid array parameter: {raw_key}")
                if last:
                    node.append(value)
                    break
                child: Any = [] if nxt == "" else {}
                node.append(child)
                node = child
                continue
            if not isinstance(node, dict):
                raise FormError(f"Invalid parameter nesting: {raw_key}")
            if last:
                if part in node and isinstance(node[part], dict | list):
                    raise FormError(f"Invalid parameter: {raw_key} is also an object")
                node[part] = value
            else:
                default: Any = [] if nxt == "" else {}
                existing = node.setdefault(part, default)
                if not isinstance(existing, dict | list):
                    raise FormError(f"Invalid parameter: {raw_key} is also a value")
                node = existing
    listified = _listify(out)
    assert isinstance(listified, dict)
    return listified
