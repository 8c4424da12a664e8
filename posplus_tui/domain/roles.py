"""Operator roles and what each may do. The services enforce these; the UI only mirrors them."""

from __future__ import annotations

import enum

__all__ = ["Action", "Role", "can_approve", "needs_supervisor", "role_allows"]


class Role(enum.StrEnum):
    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"
    ADMIN = "admin"


class Action(enum.StrEnum):
    CHARGE = "charge"
    CHARGE_OVER_BALANCE = "charge_over_balance"
    REFUND = "refund"
    VOID = "void"
    BATCH_CLOSE = "batch_close"
    REVOKE_CARD = "revoke_card"
    MANAGE_OPERATORS = "manage_operators"
    CHANGE_SETTINGS = "change_settings"
    TERMINAL_SETUP = "terminal_setup"
    #: Retry, mark posted by hand or cancel a ServiceTitan posting (it changes the books).
    RESOLVE_POSTING = "resolve_posting"


_SUPERVISOR_ACTIONS = frozenset(
    {
        Action.CHARGE_OVER_BALANCE,
        Action.REFUND,
        Action.VOID,
        Action.BATCH_CLOSE,
        Action.RESOLVE_POSTING,
    }
)

_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.CLERK: frozenset({Action.CHARGE, Action.REVOKE_CARD}),
    Role.SUPERVISOR: frozenset({Action.CHARGE, Action.REVOKE_CARD} | _SUPERVISOR_ACTIONS),
    Role.TECHNICIAN: frozenset({Action.TERMINAL_SETUP, Action.CHANGE_SETTINGS}),
    Role.ADMIN: frozenset(Action),
}


def role_allows(role: Role, action: Action) -> bool:
    return Action(action) in _ALLOWED[Role(role)]


def needs_supervisor(action: Action) -> bool:
    """Actions a clerk may start only with a supervisor's on-the-spot approval."""
    return Action(action) in _SUPERVISOR_ACTIONS


def can_approve(role: Role) -> bool:
    """Who may approve a supervisor action with their PIN."""
    return Role(role) in (Role.SUPERVISOR, Role.ADMIN)
