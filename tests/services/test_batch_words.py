"""A batch-close report in words a clerk reads aloud."""

from posplus_tui.domain.money import Money
from posplus_tui.services.payments import BatchSummary


def test_one_transaction_is_singular() -> None:
    assert BatchSummary("7", 1, Money(1000), 1).describe() == (
        "Batch 7 closed: 1 transaction, $10.00."
    )
    assert "2 transactions, $20.00" in BatchSummary("7", 2, Money(2000), 2).describe()


def test_unreadable_totals_are_not_shown_as_zero() -> None:
    words = BatchSummary("7", 0, Money(0), 3, totals_known=False).describe()
    assert "closed" in words and "could not be read" in words
    assert "$0.00" not in words and "0 transactions" not in words
