"""The reconciliation stream: one event per step, fanned out to whoever listens.

The worker stores every event in the ledger (in the same database transaction as the state change it
describes) and then publishes it here, so the reconciliation screen can show live progress and,
after a restart, the history read back from the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from posplus_tui.domain.money import Money
from posplus_tui.services.hub import EventHub


class EventKind(StrEnum):
    """Every step a posting goes through, as the clerk and supervisor see it."""

    QUEUED = "queued"
    POSTING = "posting"
    POSTED = "posted"
    VERIFIED = "verified"
    RETRY = "retry"
    NEEDS_ATTENTION = "needs_attention"
    MISMATCH = "mismatch"
    CANCELLED = "cancelled"
    RESOLVED = "resolved"
    SETUP_ERROR = "setup_error"


@dataclass(frozen=True)
class ReconcileEvent:
    """One step: when, which transaction, which invoice, how much, and what happened in words."""

    time: datetime
    transaction_ref: str
    invoice_number: str
    amount: Money
    kind: EventKind
    message: str
    outbox_id: int | None = None
    retry_in: float | None = None
    station: str = ""
    id: int | None = field(default=None, compare=False)

    @classmethod
    def now(
        cls,
        kind: EventKind,
        message: str,
        *,
        transaction_ref: str = "",
        invoice_number: str = "",
        amount: Money | None = None,
        outbox_id: int | None = None,
        retry_in: float | None = None,
        station: str = "",
    ) -> ReconcileEvent:
        return cls(
            time=datetime.now(UTC),
            transaction_ref=transaction_ref,
            invoice_number=invoice_number,
            amount=amount if amount is not None else Money(0),
            kind=EventKind(kind),
            message=message,
            outbox_id=outbox_id,
            retry_in=retry_in,
            station=station,
        )


class EventBus(EventHub[ReconcileEvent]):
    """The reconciliation stream on the services' one hub. A slow ``stream()`` subscriber never
    blocks the worker: its queue is bounded and its oldest events are dropped and counted (the
    history in the ledger stays complete)."""

    def __init__(self, queue_size: int = 10_000) -> None:
        super().__init__("reconcile events", queue_size=queue_size)
