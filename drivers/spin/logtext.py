"""SPIn bodies as a technician's log shows them: the auth key, tokens, BINs, signatures and
anything shaped like a card number masked; amounts kept exact (JSON numbers read as Decimal)."""

from __future__ import annotations

import json
from decimal import Decimal

#: reply fields never shown in full in a technician's log
_MASKED_KEYS = frozenset(
    {"authkey", "token", "ipostoken", "first4", "bin", "signature", "emvdata", "receipts", "name"}
)


def _mask_json(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: ("••••" if k.lower() in _MASKED_KEYS and v not in (None, "") else _mask_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def masked_text(body: bytes, authkey: str) -> str:
    """A body for the log: sensitive keys masked, the auth key never shown."""
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        text = json.dumps(_mask_json(data), ensure_ascii=False, default=str)
    except (ValueError, UnicodeDecodeError):
        text = body[:400].decode("utf-8", "replace")
    if authkey:
        text = text.replace(authkey, "••••")
    digits = 0
    out = []
    for ch in text:  # anything card-number-like: a run of 12+ digits keeps its last 4
        digits = digits + 1 if ch.isdigit() else 0
        out.append(ch)
        if digits >= 12:
            run = "".join(out[-digits:])
            out[-digits:] = list("•" * (digits - 4) + run[-4:])
    return "".join(out)
