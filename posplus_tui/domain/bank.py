"""Bank account checks for keyed ACH: the ABA routing checksum and what may be shown."""

from __future__ import annotations

from posplus_tui.domain.rules import RuleViolation

__all__ = ["aba_checksum_ok", "check_account_number", "check_routing_number", "last4"]

_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def aba_checksum_ok(routing: str) -> bool:
    """ABA routing numbers are 9 digits whose weighted sum (3, 7, 1 …) is a multiple of 10."""
    if len(routing) != 9 or not routing.isascii() or not routing.isdigit():
        return False
    return sum(w * int(d) for w, d in zip(_WEIGHTS, routing, strict=True)) % 10 == 0


def check_routing_number(routing: str) -> str:
    """The routing number without spaces, or :class:`RuleViolation` (showing only its last 4)."""
    clean = (routing or "").replace(" ", "").replace("-", "")
    if len(clean) != 9 or not clean.isascii() or not clean.isdigit():
        raise RuleViolation(
            "The routing number must be exactly 9 digits.",
            "Copy the 9-digit number printed at the bottom left of the check.",
        )
    if not aba_checksum_ok(clean):
        raise RuleViolation(
            f"The routing number ending {clean[-4:]} is not a valid US bank routing number "
            "(its check digit does not match).",
            "Check each digit against the check or the bank's letter and type it again.",
        )
    return clean


def check_account_number(account: str) -> str:
    """Account numbers are 4–17 digits (NACHA); anything else is a typo."""
    clean = (account or "").replace(" ", "").replace("-", "")
    if not (4 <= len(clean) <= 17) or not clean.isascii() or not clean.isdigit():
        raise RuleViolation(
            "The account number must be 4 to 17 digits.",
            "Type the account number from the check, digits only.",
        )
    return clean


def last4(number: str) -> str:
    return number[-4:]
