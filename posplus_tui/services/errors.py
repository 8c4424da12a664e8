"""Every rejection a clerk can see: what was wrong (``message``) and what to do (``fix``).

A ``ServiceError`` means nothing was changed: no row written, nothing sent to a terminal. The UI shows
``message`` and ``fix`` as they are (see ``posplus_tui.ui.errors.explain``).
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "InvalidRequest",
    "InvoiceBusy",
    "NotPermitted",
    "OperatorLocked",
    "RefundTooLarge",
    "ServiceError",
    "SignInFailed",
    "SupervisorRequired",
    "TerminalBusy",
    "TerminalUnavailable",
    "UnknownRecord",
    "VoidNotAllowed",
]


class ServiceError(Exception):
    """Base of every rejection a clerk sees."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    @property
    def title(self) -> str:
        return self.message

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()


class InvalidRequest(ServiceError):
    """The request itself is wrong: an amount, a number, a missing field."""


class RefundTooLarge(InvalidRequest):
    """More than is left to refund on that sale."""


class VoidNotAllowed(InvalidRequest):
    """The sale cannot be voided (batch closed, refunds against it …); usually: refund instead."""


class InvoiceBusy(InvalidRequest):
    """Another charge on the invoice is at a terminal, or the ledger already holds what is left
    of ServiceTitan's balance (approved, unconfirmed or not yet posted): the message says who,
    where and how much."""


class UnknownRecord(ServiceError):
    """No transaction, card, operator or invoice with that reference."""


class NotPermitted(ServiceError):
    """The signed-in operator's role does not allow this."""


class SupervisorRequired(NotPermitted):
    """Allowed only for a supervisor, or with a supervisor's PIN approval on the spot."""


class SignInFailed(ServiceError):
    """Wrong name or PIN. ``attempts_left`` before the operator is locked out."""

    def __init__(self, message: str, fix: str = "", attempts_left: int | None = None) -> None:
        super().__init__(message, fix)
        self.attempts_left = attempts_left


class OperatorLocked(ServiceError):
    """Too many wrong PINs: locked until ``until`` (UTC)."""

    def __init__(self, message: str, fix: str, until: datetime) -> None:
        super().__init__(message, fix)
        self.until = until


class TerminalUnavailable(ServiceError):
    """The terminal cannot be reached or refused the request before any money moved."""


class TerminalBusy(ServiceError):
    """This station's terminal is already working on another request."""
