"""Charge, refund and void rules; ABA checksum; ECR references; roles."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posplus_tui.domain.bank import (
    aba_checksum_ok,
    check_account_number,
    check_routing_number,
)
from posplus_tui.domain.money import Money
from posplus_tui.domain.refs import ECR_REF_LENGTH, is_ecr_ref, make_ecr_ref, outbox_marker
from posplus_tui.domain.roles import Action, Role, can_approve, needs_supervisor, role_allows
from posplus_tui.domain.rules import (
    RefundExceedsRemaining,
    RuleViolation,
    check_charge_amount,
    check_refund,
    check_void,
    refundable_remaining,
    reserved_by_children,
)
from posplus_tui.domain.transactions import TxnKind, TxnState

S, K = TxnState, TxnKind


def m(text: str) -> Money:
    return Money.parse(text)


def test_full_balance_is_a_sale_and_less_is_a_deposit() -> None:
    assert check_charge_amount(m("100"), m("100"), supervisor=False) is K.SALE
    assert check_charge_amount(m("40"), m("100"), supervisor=False) is K.DEPOSIT


def test_deposit_over_balance_needs_a_supervisor() -> None:
    with pytest.raises(RuleViolation) as info:
        check_charge_amount(m("100.01"), m("100"), supervisor=False)
    assert "more than the invoice balance of $100.00" in info.value.message
    assert "supervisor" in info.value.fix
    assert check_charge_amount(m("100.01"), m("100"), supervisor=True) is K.DEPOSIT


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_zero_or_negative_charge_is_refused(amount: str) -> None:
    with pytest.raises(RuleViolation, match="more than"):
        check_charge_amount(Money.parse(amount, allow_negative=True), m("10"), supervisor=True)


def test_reserved_counts_approved_and_in_flight_refunds_only() -> None:
    children = [
        (K.REFUND, S.APPROVED, m("10")),
        (K.REFUND, S.AT_TERMINAL, m("5")),
        (K.REFUND, S.UNKNOWN, m("1")),
        (K.REFUND, S.INTENT, m("2")),
        (K.REFUND, S.DECLINED, m("50")),
        (K.REFUND, S.NOT_FOUND, m("50")),
        (K.REFUND, S.POSTED, m("3")),
        (K.VOID, S.DECLINED, m("100")),
    ]
    assert reserved_by_children(children) == m("21")


def test_refund_limits() -> None:
    assert check_refund(S.APPROVED, m("100"), m("30"), m("70")) == m("0")
    assert check_refund(S.PARTIALLY_REFUNDED, m("100"), m("30"), m("20")) == m("50")
    with pytest.raises(RefundExceedsRemaining) as info:
        check_refund(S.APPROVED, m("100"), m("30"), m("70.01"))
    assert (
        "left to refund: $70.00" in info.value.message
        and info.value.fix == "Refund at most $70.00."
    )
    with pytest.raises(RuleViolation, match="no captured money") as other:
        check_refund(S.DECLINED, m("100"), m("0"), m("1"))
    assert not isinstance(other.value, RefundExceedsRemaining)  # the service maps types, not words
    with pytest.raises(RuleViolation, match="no captured money"):
        check_refund(S.REFUNDED, m("100"), m("100"), m("1"))
    with pytest.raises(RuleViolation, match="more than"):
        check_refund(S.APPROVED, m("100"), m("0"), m("0"))


@given(
    captured=st.integers(min_value=1, max_value=10**7),
    refunds=st.lists(st.integers(min_value=1, max_value=10**6), max_size=20),
)
def test_accepted_refunds_never_exceed_captured(captured: int, refunds: list[int]) -> None:
    reserved = Money(0)
    for cents in refunds:
        try:
            check_refund(S.APPROVED, Money(captured), reserved, Money(cents))
        except RuleViolation:
            continue
        reserved = reserved + Money(cents)
    assert reserved.cents <= captured
    assert refundable_remaining(Money(captured), reserved).cents == captured - reserved.cents


def test_void_rules() -> None:
    check_void(S.APPROVED, batch_closed=False)
    check_void(S.POSTED, batch_closed=False)
    with pytest.raises(RuleViolation) as info:
        check_void(S.APPROVED, batch_closed=True)
    assert info.value.fix == "Refund it instead."
    with pytest.raises(RuleViolation, match="already voided"):
        check_void(S.VOIDED, batch_closed=False)
    with pytest.raises(RuleViolation, match="refunds against it"):
        check_void(S.PARTIALLY_REFUNDED, batch_closed=False)
    with pytest.raises(RuleViolation, match="only an approved sale"):
        check_void(S.DECLINED, batch_closed=False)
    with pytest.raises(RuleViolation, match="already in progress"):
        check_void(S.APPROVED, batch_closed=False, children=[(K.VOID, S.AT_TERMINAL, m("1"))])
    with pytest.raises(RuleViolation, match="refund in progress"):
        check_void(S.APPROVED, batch_closed=False, children=[(K.REFUND, S.INTENT, m("1"))])
    check_void(S.APPROVED, batch_closed=False, children=[(K.VOID, S.DECLINED, m("1"))])


@pytest.mark.parametrize(
    "routing", ["011000015", "021000021", "026009593", "111000025", "122105155"]
)
def test_real_routing_numbers_pass(routing: str) -> None:
    assert aba_checksum_ok(routing)
    assert check_routing_number(routing[:4] + " " + routing[4:]) == routing


@pytest.mark.parametrize("routing", ["021000022", "12345678", "0210000210", "02100002a", ""])
def test_bad_routing_numbers_fail_without_echoing_the_number(routing: str) -> None:
    assert not aba_checksum_ok(routing.replace(" ", ""))
    with pytest.raises(RuleViolation) as info:
        check_routing_number(routing)
    if len(routing) == 9 and routing.isdigit():
        assert routing not in info.value.message and routing[-4:] in info.value.message


def test_account_numbers() -> None:
    assert check_account_number("1234 5678 9") == "123456789"
    for bad in ["123", "1" * 18, "12ab56"]:
        with pytest.raises(RuleViolation, match="4 to 17 digits"):
            check_account_number(bad)


def test_ecr_refs_are_16_chars_start_with_a_letter_and_differ() -> None:
    entropies = range(0, 36**9, 36**9 // 1000)
    refs = {make_ecr_ref(date(2026, 11, 25), n) for n in entropies}
    assert len(refs) == len(entropies)
    for ref in refs:
        assert len(ref) == ECR_REF_LENGTH and ref.startswith("P261125") and is_ecr_ref(ref)
    assert make_ecr_ref(date(2026, 1, 2), 35) == "P26010200000000Z"
    assert outbox_marker("P2601020000000Z1") == "POSPLUS-P2601020000000Z1"
    assert not is_ecr_ref("4111111111111111")


def test_roles() -> None:
    assert role_allows(Role.CLERK, Action.CHARGE)
    assert not role_allows(Role.CLERK, Action.REFUND)
    assert role_allows(Role.SUPERVISOR, Action.VOID)
    assert not role_allows(Role.SUPERVISOR, Action.MANAGE_OPERATORS)
    assert role_allows(Role.ADMIN, Action.MANAGE_OPERATORS)
    assert not role_allows(Role.TECHNICIAN, Action.REFUND)
    assert can_approve(Role.SUPERVISOR) and can_approve(Role.ADMIN)
    assert not can_approve(Role.CLERK) and not can_approve(Role.TECHNICIAN)
    assert needs_supervisor(Action.BATCH_CLOSE) and not needs_supervisor(Action.CHARGE)
