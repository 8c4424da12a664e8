"""Money as integer cents (USD).

Amounts are parsed with ``Decimal`` from what a clerk types or the API sends and kept as an ``int``
number of cents, so sums never drift and no float ever touches a payment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["MAX_CENTS", "Money", "MoneyError"]

#: The largest amount the app accepts anywhere: $9,999,999.99. Anything bigger is a typo.
MAX_CENTS = 999_999_999

#: ASCII digits only: ``\d`` would also take other scripts' digits ("١٢"), which no clerk means.
_CLERK_PATTERN = re.compile(
    r"^(?P<sign>-)?\$?(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d*))?$", re.ASCII
)


class MoneyError(ValueError):
    """An amount that cannot be accepted; ``str(err)`` is a sentence a clerk can act on."""


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of US dollars held as whole cents."""

    cents: int

    def __post_init__(self) -> None:
        if isinstance(self.cents, bool) or not isinstance(self.cents, int):
            raise TypeError(f"Money takes integer cents, not {type(self.cents).__name__}")
        if abs(self.cents) > MAX_CENTS:
            raise MoneyError(
                f"{_fmt(self.cents)} is larger than the most this app accepts "
                f"({_fmt(MAX_CENTS)}). Check the amount."
            )

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def parse(cls, text: str, *, allow_negative: bool = False, allow_zero: bool = True) -> Money:
        """Parse what a clerk typed: ``12``, ``12.3``, ``12.30``, ``$1,234.50``.

        Raises :class:`MoneyError` with a message that says what was wrong and what to type.
        """
        if text is None:
            raise MoneyError("Enter an amount, for example 125.00.")
        raw = str(text).strip()  # spaces inside ("1 2") are refused, never squeezed out
        if not raw:
            raise MoneyError("Enter an amount, for example 125.00.")
        match = _CLERK_PATTERN.match(raw)
        if not match or (not match["int"] and not match["frac"]):
            raise MoneyError(
                f"“{text}” is not an amount. Type digits with at most two decimals, e.g. 125.00."
            )
        frac = match["frac"] or ""
        if len(frac) > 2:
            raise MoneyError(
                f"“{text}” has more than two decimals. Amounts are in dollars and cents, e.g. 12.34."
            )
        int_part = (match["int"] or "0").replace(",", "")
        if len(int_part.lstrip("0")) > 7:
            raise MoneyError(
                f"“{text}” is larger than the most this app accepts ({_fmt(MAX_CENTS)}). "
                "Check the amount."
            )
        cents = int(int_part) * 100 + int(frac.ljust(2, "0") or "0")
        if match["sign"]:
            cents = -cents
        return cls._checked(cents, text, allow_negative=allow_negative, allow_zero=allow_zero)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int, *, allow_negative: bool = True) -> Money:
        """Parse an API amount (a decimal string such as ``"1234.5"`` or an integer).

        The API sends money as strings; values with fractions of a cent are rejected, not rounded,
        because a silent rounding would make the books drift.
        """
        if isinstance(value, bool | float):
            raise TypeError("Money.from_decimal takes a Decimal, str or int, never a float")
        try:
            dec = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise MoneyError(f"“{value}” is not a valid amount from the server.") from exc
        if not dec.is_finite():
            raise MoneyError(f"“{value}” is not a finite amount.")
        scaled = dec * 100
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"“{value}” has fractions of a cent; it cannot be charged.")
        cents = int(scaled)
        return cls._checked(cents, str(value), allow_negative=allow_negative, allow_zero=True)

    @classmethod
    def _checked(cls, cents: int, text: str, *, allow_negative: bool, allow_zero: bool) -> Money:
        if cents < 0 and not allow_negative:
            raise MoneyError(f"“{text}” is negative. Enter a positive amount.")
        if cents == 0 and not allow_zero:
            raise MoneyError("The amount must be more than $0.00.")
        if abs(cents) > MAX_CENTS:
            raise MoneyError(
                f"“{text}” is larger than the most this app accepts ({_fmt(MAX_CENTS)}). "
                "Check the amount."
            )
        return cls(cents)

    # -- presentation ---------------------------------------------------------------------------

    def to_decimal(self) -> Decimal:
        return (Decimal(self.cents) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)

    def to_api(self) -> str:
        """The plain decimal string the API and the ledger use: ``"1234.50"``, ``"-3.00"``."""
        return f"{self.to_decimal():.2f}"

    def format(self) -> str:
        """What a clerk reads: ``$1,234.50`` or ``-$3.00``."""
        return _fmt(self.cents)

    def __str__(self) -> str:
        return self.format()

    # -- arithmetic -----------------------------------------------------------------------------

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.cents - other.cents)

    def __neg__(self) -> Money:
        return Money(-self.cents)

    def __abs__(self) -> Money:
        return Money(abs(self.cents))

    def __bool__(self) -> bool:
        return self.cents != 0

    @property
    def is_positive(self) -> bool:
        return self.cents > 0

    @property
    def is_negative(self) -> bool:
        return self.cents < 0

    @staticmethod
    def total(amounts: list[Money] | tuple[Money, ...]) -> Money:
        return Money(sum(a.cents for a in amounts))


def _fmt(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
