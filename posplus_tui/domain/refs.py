"""ECR reference numbers: the app's unique id for each terminal request.

Terminals take at most 16 characters. A reference starts with a letter so that no log or scan ever
mistakes it for a card number, carries the date for a person reading a receipt, and ends with random
base-36 characters (36⁹ ≈ 10¹⁴ per day) supplied by the caller, keeping this function pure.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["ECR_REF_LENGTH", "is_ecr_ref", "make_ecr_ref", "outbox_marker"]

ECR_REF_LENGTH = 16
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RANDOM_CHARS = 9
_PATTERN = re.compile(r"^P\d{6}[0-9A-Z]{9}$")


def make_ecr_ref(day: date, entropy: int) -> str:
    """``P`` + ``YYMMDD`` + 9 base-36 characters taken from ``entropy`` (e.g. ``secrets.randbits(47)``)."""
    if entropy < 0:
        raise ValueError("entropy must be a non-negative integer")
    chars = []
    value = entropy
    for _ in range(_RANDOM_CHARS):
        value, digit = divmod(value, 36)
        chars.append(_ALPHABET[digit])
    return f"P{day:%y%m%d}{''.join(reversed(chars))}"


def is_ecr_ref(text: str) -> bool:
    return bool(_PATTERN.match(text or ""))


def outbox_marker(ecr_ref: str) -> str:
    """The idempotency marker put in ServiceTitan's memo/export id: ``POSPLUS-<ecr_ref>``."""
    return f"POSPLUS-{ecr_ref}"
