"""The outbox lifecycle as a table: every pair of states is either a move or refused, the groups
the app counts by come from it, and the ledger and the worker use the one spelling."""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from posplus_tui.domain.outbox import (
    OUTBOX_ATTENTION_STATES,
    OUTBOX_FINAL_STATES,
    OUTBOX_MOVES,
    OUTBOX_OPEN_STATES,
    OUTBOX_POSTED_STATES,
    IllegalOutboxMove,
    OutboxAction,
    OutboxState,
    outbox_move,
)

S = OutboxState


@pytest.mark.parametrize(("state", "target"), list(itertools.product(S, S)))
def test_every_pair_is_a_move_or_refused_in_words(state: S, target: S) -> None:
    if target in OUTBOX_MOVES[state]:
        assert outbox_move(state.value, target.value) is target
    else:
        with pytest.raises(IllegalOutboxMove, match=f"{state.value} cannot become"):
            outbox_move(state.value, target.value)


def test_a_row_in_servicetitan_never_goes_back_to_unposted() -> None:
    """Once ServiceTitan took it, posting again would double the payment: never PENDING."""
    for state in (S.POSTED, S.VERIFIED, S.MISMATCH):
        with pytest.raises(IllegalOutboxMove):
            outbox_move(state, S.PENDING)
        with pytest.raises(IllegalOutboxMove):
            outbox_move(state, S.CANCELLED)


def test_verified_and_cancelled_are_final() -> None:
    for state in (S.VERIFIED, S.CANCELLED):
        assert OUTBOX_MOVES[state] == frozenset()
        with pytest.raises(IllegalOutboxMove, match="it is final"):
            outbox_move(state, state)


def test_every_state_is_reachable_and_every_live_state_can_end_verified() -> None:
    seen, todo = {S.PENDING}, deque([S.PENDING])
    while todo:
        for nxt in OUTBOX_MOVES[todo.popleft()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen == set(S)
    for state in set(S) - {S.VERIFIED, S.CANCELLED}:
        assert S.VERIFIED in OUTBOX_MOVES[state] or S.POSTED in OUTBOX_MOVES[state]


def test_groups_cover_every_state_once() -> None:
    assert set(S) == OUTBOX_OPEN_STATES | OUTBOX_FINAL_STATES
    assert not OUTBOX_OPEN_STATES & OUTBOX_FINAL_STATES
    assert OUTBOX_ATTENTION_STATES <= OUTBOX_FINAL_STATES
    assert {S.POSTED, S.VERIFIED} == OUTBOX_POSTED_STATES


def test_unknown_state_is_an_error_not_a_default() -> None:
    with pytest.raises(ValueError):
        outbox_move("done", "posted")


def test_the_ledger_and_the_worker_use_the_domain_spelling() -> None:
    from posplus_tui.ledger.tables.outbox import OUTBOX_ACTIONS, OUTBOX_STATES
    from posplus_tui.services.reconcile import model

    assert tuple(s.value for s in S) == OUTBOX_STATES
    assert tuple(a.value for a in OutboxAction) == OUTBOX_ACTIONS
    assert model.PENDING is S.PENDING and model.MISMATCH is S.MISMATCH
    assert set(model.OPEN_STATES) == OUTBOX_OPEN_STATES
