from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posplus_tui.domain.money import MAX_CENTS, Money, MoneyError


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("12", 1200),
        ("12.3", 1230),
        ("12.30", 1230),
        ("$1,234.50", 123450),
        (" 0.99 ", 99),
        (".5", 50),
        ("7.", 700),
        ("1,000,000", 100_000_000),
    ],
)
def test_parses_what_a_clerk_types(typed: str, cents: int) -> None:
    assert Money.parse(typed).cents == cents


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("12.345", "more than two decimals"),
        ("", "Enter an amount"),
        ("   ", "Enter an amount"),
        ("abc", "not an amount"),
        ("12a", "not an amount"),
        ("NaN", "not an amount"),
        ("inf", "not an amount"),
        ("1e5", "not an amount"),
        ("-5", "negative"),
        ("99999999", "larger than the most"),
        ("1,23.00", "not an amount"),
        ("$", "not an amount"),
        (" 1 2 ", "not an amount"),  # never squeezed into $12.00
        ("1 000", "not an amount"),
        ("١٢", "not an amount"),  # other scripts' digits
        ("１２", "not an amount"),
    ],
)
def test_rejects_bad_input_with_a_clerk_message(typed: str, says: str) -> None:
    with pytest.raises(MoneyError, match=says):
        Money.parse(typed)


def test_zero_can_be_refused() -> None:
    with pytest.raises(MoneyError, match=r"more than \$0.00"):
        Money.parse("0.00", allow_zero=False)


def test_negative_allowed_when_asked() -> None:
    assert Money.parse("-3.10", allow_negative=True).cents == -310


def test_api_amounts() -> None:
    assert Money.from_decimal("1234.5").cents == 123450
    assert Money.from_decimal("-20.00").cents == -2000
    assert Money.from_decimal(Decimal("0")).cents == 0
    with pytest.raises(MoneyError, match="fractions of a cent"):
        Money.from_decimal("1.005")
    with pytest.raises(MoneyError, match="finite"):
        Money.from_decimal("NaN")
    with pytest.raises(TypeError):
        Money.from_decimal(1.5)  # type: ignore[arg-type]


def test_formatting() -> None:
    assert Money(123450).format() == "$1,234.50"
    assert Money(-300).format() == "-$3.00"
    assert Money(5).to_api() == "0.05"
    assert Money(-123450).to_api() == "-1234.50"


def test_no_floats_or_bools() -> None:
    with pytest.raises(TypeError):
        Money(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True)


cents = st.integers(min_value=-MAX_CENTS, max_value=MAX_CENTS)


@given(cents)
def test_parse_of_format_is_identity(value: int) -> None:
    money = Money(value)
    assert Money.parse(money.format(), allow_negative=True) == money
    assert Money.from_decimal(money.to_api()) == money


@given(st.lists(st.integers(min_value=0, max_value=10_000_00), max_size=200))
def test_sums_never_drift(values: list[int]) -> None:
    total = Money.total([Money(v) for v in values])
    assert total.cents == sum(values)
    assert Money.from_decimal(total.to_api()) == total
    assert Decimal(total.to_api()) == sum((Decimal(v) / 100 for v in values), Decimal(0))
