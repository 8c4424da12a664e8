"""The state machine, checked for every (state, event) pair against the life of a payment."""

from __future__ import annotations

import itertools

import pytest

from posplus_tui.domain.transactions import (
    FINAL_STATES,
    IllegalTransition,
    TxnEvent,
    TxnState,
    transition,
)

S, E = TxnState, TxnEvent

# The diagram in ARCHITECTURE.md, written out independently of the implementation's table.
EXPECTED: dict[tuple[TxnState, TxnEvent], TxnState] = {
    (S.INTENT, E.SENT): S.AT_TERMINAL,
    (S.INTENT, E.DISCARD): S.DISCARDED,
    (S.INTENT, E.FAILED): S.FAILED,
}
for source in (S.AT_TERMINAL, S.UNKNOWN):
    EXPECTED |= {
        (source, E.APPROVED): S.APPROVED,
        (source, E.DECLINED): S.DECLINED,
        (source, E.CANCELLED): S.CANCELLED,
        (source, E.FAILED): S.FAILED,
        (source, E.LOST): S.UNKNOWN,
        (source, E.NOT_FOUND): S.NOT_FOUND,
    }
for source in (S.APPROVED, S.POST_FAILED, S.POSTED, S.RECONCILED):
    EXPECTED |= {
        (source, E.PARTIAL_REFUND): S.PARTIALLY_REFUNDED,
        (source, E.FULL_REFUND): S.REFUNDED,
        (source, E.VOIDED): S.VOIDED,
    }
EXPECTED[(S.NOT_FOUND, E.APPROVED)] = S.APPROVED  # a late approval from the terminal wins
EXPECTED |= {
    (S.APPROVED, E.POSTED): S.POSTED,
    (S.APPROVED, E.POST_FAILED): S.POST_FAILED,
    (S.POST_FAILED, E.POSTED): S.POSTED,
    (S.POST_FAILED, E.POST_FAILED): S.POST_FAILED,
    (S.POSTED, E.POSTED): S.POSTED,
    (S.POSTED, E.POST_FAILED): S.POST_FAILED,
    (S.POSTED, E.RECONCILED): S.RECONCILED,
    (S.RECONCILED, E.RECONCILED): S.RECONCILED,
    (S.RECONCILED, E.POSTED): S.RECONCILED,
    (S.PARTIALLY_REFUNDED, E.PARTIAL_REFUND): S.PARTIALLY_REFUNDED,
    (S.PARTIALLY_REFUNDED, E.FULL_REFUND): S.REFUNDED,
}
for keeper in (S.PARTIALLY_REFUNDED, S.REFUNDED, S.VOIDED):
    for posting in (E.POSTED, E.POST_FAILED, E.RECONCILED):
        EXPECTED[(keeper, posting)] = keeper

ALL_PAIRS = list(itertools.product(TxnState, TxnEvent))


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda v: v.value)
def test_every_pair(state: TxnState, event: TxnEvent) -> None:
    expected = EXPECTED.get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            transition(state, event)
        assert state.value in str(info.value) and event.value in str(info.value)
    else:
        assert transition(state, event) is expected


def test_pair_count_is_the_whole_product() -> None:
    assert len(ALL_PAIRS) == len(TxnState) * len(TxnEvent) == 15 * 14


def test_final_states_take_no_event() -> None:
    assert {S.DECLINED, S.CANCELLED, S.FAILED, S.DISCARDED} == FINAL_STATES
    for state in FINAL_STATES:
        for event in TxnEvent:
            with pytest.raises(IllegalTransition, match="final state"):
                transition(state, event)


def test_an_unknown_is_never_resent() -> None:
    """No event takes UNKNOWN or AT_TERMINAL back to INTENT (that would mean sending again)."""
    for (_source, _event), target in EXPECTED.items():
        assert target is not S.INTENT


def test_strings_are_accepted_as_values() -> None:
    assert transition("intent", "sent") is S.AT_TERMINAL  # type: ignore[arg-type]
