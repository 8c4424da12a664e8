"""The life of a payment link: every (state, event) pair has a next state or is refused."""

from __future__ import annotations

import pytest

from posplus_tui.domain.holds import OpenLink, check_reservation, holds_for
from posplus_tui.domain.links import (
    LINK_HOLDING_STATES,
    LINK_OPEN_STATES,
    LINK_TRANSITIONS,
    IllegalLinkMove,
    LinkEvent,
    LinkStatus,
    link_transition,
)
from posplus_tui.domain.money import Money
from posplus_tui.domain.rules import RuleViolation

S, E = LinkStatus, LinkEvent


def test_the_table_is_total() -> None:
    for state in S:
        for event in E:
            if event in LINK_TRANSITIONS[state]:
                assert link_transition(state, event) in S
            else:
                with pytest.raises(IllegalLinkMove):
                    link_transition(state, event)


@pytest.mark.parametrize(
    ("path", "end"),
    [
        ([E.CREATED, E.SENT, E.SENT, E.PAID, E.PARTIAL_REFUND, E.FULL_REFUND], S.REFUNDED),
        ([E.LOST, E.LOST, E.CREATED, E.EXPIRED], S.EXPIRED),
        ([E.LOST, E.NOT_FOUND], S.FAILED),
        ([E.REFUSED], S.FAILED),
        ([E.CREATED, E.DEACTIVATED, E.PAID], S.PAID),  # a payment before the switch-off wins
    ],
)
def test_paths(path: list[LinkEvent], end: LinkStatus) -> None:
    state = S.INTENT
    for event in path:
        state = link_transition(state, event)
    assert state is end


def test_a_link_is_paid_once_and_never_reopened() -> None:
    for state in (S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED):
        for event in (E.PAID, E.SENT, E.CREATED, E.DEACTIVATED, E.EXPIRED):
            with pytest.raises(IllegalLinkMove):
                link_transition(state, event)
    assert LINK_OPEN_STATES <= LINK_HOLDING_STATES
    assert S.PAID not in LINK_HOLDING_STATES  # then its payment holds, as a charge


def test_an_open_link_holds_its_amount_on_the_invoice() -> None:
    from datetime import UTC, datetime

    link = OpenLink("P261129ABCDEFGHI", Money(6000), "sms", "Counter 1", datetime.now(UTC))
    holds = holds_for("INV-1", Money(10000), [], links=[link])
    assert holds.available == Money(4000)
    check_reservation(holds, Money(4000))
    with pytest.raises(RuleViolation) as refused:
        check_reservation(holds, Money(4001))
    assert "payment link texted" in refused.value.message
    assert "deactivate it first" in refused.value.message
