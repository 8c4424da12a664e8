"""Dollars on the SPIn wire ⇄ integer cents, exactly: through text and :class:`~decimal.Decimal`,
never a float. An amount that is not a whole number of cents (or not a number at all) is refused,
so the caller can treat it as unreadable (unknown), never round it into something else."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: The largest amount either side will say: $9,999,999.99 (no counter sells more in one go).
MAX_CENTS = 999_999_999


class AmountError(ValueError):
    """An amount that cannot be read as a whole number of cents."""


def dollars(cents: int) -> str:
    """``1234`` → ``"12.34"``: the JSON number the wire carries (written as text, no float)."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise AmountError(f"an amount in cents must be an int, not {type(cents).__name__}")
    if not 0 <= cents <= MAX_CENTS:
        raise AmountError(f"{cents} cents is outside 0–{MAX_CENTS}")
    return f"{cents // 100}.{cents % 100:02d}"


def cents(value: object, *, signed: bool = False) -> int:
    """A wire amount (a JSON number read as Decimal or int, or a numeric string) → cents.

    ``"12.34"`` and ``12.340`` are 1234, ``12.3`` is 1230; ``12.345``, a negative amount (unless
    ``signed``: a batch's net total), exponents, ``NaN``, a float or a bool are refused: a float
    has already lost exactness by the time we see it.
    """
    if isinstance(value, bool | float):
        raise AmountError(f"amount {value!r} is not an exact decimal")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 20 or not all(c.isdigit() or c in ".-+" for c in text):
            raise AmountError(f"amount {value!r} is not a plain decimal number")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise AmountError(f"amount {value!r} is not a number") from None
    else:
        raise AmountError(f"amount of type {type(value).__name__} is not a number")
    if not number.is_finite():
        raise AmountError(f"amount {value!r} is not a finite number")
    scaled = number * 100
    if scaled != scaled.to_integral_value():
        raise AmountError(f"amount {value!r} is not a whole number of cents")
    result = int(scaled)
    if not (-MAX_CENTS if signed else 0) <= result <= MAX_CENTS:
        raise AmountError(f"amount {value!r} is outside $0.00–${dollars(MAX_CENTS)}")
    return result
