"""The holds rule, pure: what the ledger holds against an invoice beyond ServiceTitan's balance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posplus_tui.domain.holds import LedgerCharge, check_reservation, holds_for
from posplus_tui.domain.money import Money
from posplus_tui.domain.rules import RuleViolation
from posplus_tui.domain.transactions import TxnState

AT = datetime(2026, 3, 2, 10, 2, tzinfo=UTC)


def charge(ref: str, state: TxnState, amount: int, approved: int = 0, returned: int = 0):
    return LedgerCharge(
        ref, state, Money(amount), Money(approved), Money(returned), "Counter 2", "Lee", AT
    )


def test_each_state_holds_what_may_have_been_taken() -> None:
    s = TxnState
    assert charge("a", s.INTENT, 500).held(frozenset()) == Money(500)
    assert charge("a", s.AT_TERMINAL, 500).held(frozenset()) == Money(500)
    assert charge("a", s.UNKNOWN, 500).held(frozenset()) == Money(500)
    assert charge("a", s.APPROVED, 500, 300).held(frozenset()) == Money(300)  # partial
    assert charge("a", s.POSTED, 500, 500).held(frozenset()) == Money(500)  # not seen yet
    assert charge("a", s.POSTED, 500, 500).held(frozenset({"a"})) == Money(0)  # in the balance
    assert charge("a", s.PARTIALLY_REFUNDED, 500, 500, 200).held(frozenset()) == Money(300)
    assert charge("a", s.REFUNDED, 500, 500, 500).held(frozenset()) == Money(0)
    assert charge("a", s.VOIDED, 500, 500).held(frozenset()) == Money(0)
    for done in (s.DECLINED, s.CANCELLED, s.FAILED, s.NOT_FOUND, s.DISCARDED):
        assert charge("a", done, 500).held(frozenset()) == Money(0)


def test_the_words_say_who_where_and_how_much() -> None:
    holds = holds_for("INV-9", Money(10_000), [charge("P1", TxnState.AT_TERMINAL, 10_000)])
    with pytest.raises(RuleViolation) as busy:
        check_reservation(holds, Money(100))
    assert busy.value.message == (
        "Invoice INV-9 is being charged right now at Counter 2 by Lee: $100.00 (started 10:02, P1)."
    )
    holds = holds_for("INV-9", Money(10_000), [charge("P2", TxnState.APPROVED, 6_000, 6_000)])
    check_reservation(holds, Money(4_000))  # what is left fits
    with pytest.raises(RuleViolation, match=r"only \$40\.00 .* not \$40\.01") as held:
        check_reservation(holds, Money(4_001))
    assert "$60.00 approved at Counter 2 by Lee (10:02, P2)" in held.value.message


STATES = st.sampled_from(list(TxnState))


@given(
    balance=st.integers(-5_000, 50_000),
    rows=st.lists(
        st.tuples(STATES, st.integers(1, 20_000), st.integers(0, 20_000), st.booleans()),
        max_size=6,
    ),
    amount=st.integers(1, 60_000),
)
def test_seeing_a_payment_never_holds_more_and_the_offer_never_exceeds_the_balance(
    balance: int, rows: list[tuple[TxnState, int, int, bool]], amount: int
) -> None:
    charges = [charge(f"P{i}", s, a, min(a, ap)) for i, (s, a, ap, _) in enumerate(rows)]
    seen = frozenset(f"P{i}" for i, (*_, is_seen) in enumerate(rows) if is_seen)
    unseen = holds_for("INV", Money(balance), charges)
    holds = holds_for("INV", Money(balance), charges, seen)
    assert Money(0) <= holds.held <= unseen.held
    assert Money(0) <= holds.available <= Money(max(0, balance))
    try:
        check_reservation(holds, Money(amount))
    except RuleViolation:
        return
    assert not holds.charging
    assert holds.held.cents == 0 or amount <= holds.available.cents
