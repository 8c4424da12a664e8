"""Reconciliation: post every approved transaction to ServiceTitan exactly once, and show it.

The worker drains the ledger's outbox through a :class:`Poster`, verifies each posting by reading
the invoice back, and publishes every step as a :class:`ReconcileEvent`.
"""

from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.marker import find_marker, marker_for
from posplus_tui.services.reconcile.payment_type import (
    PaymentTypeSetupError,
    ResolvedPaymentType,
    resolve_payment_type,
)
from posplus_tui.services.reconcile.poster import (
    NeedsAttention,
    OutcomeUnknown,
    Poster,
    Posting,
    PostResult,
    RetryLater,
    SetupProblem,
)
from posplus_tui.services.reconcile.summary import ReconcileSummary, sparkline, summarize

__all__ = [
    "EventBus",
    "EventKind",
    "NeedsAttention",
    "OutcomeUnknown",
    "PaymentTypeSetupError",
    "PostResult",
    "Poster",
    "Posting",
    "ReconcileEvent",
    "ReconcileSummary",
    "ResolvedPaymentType",
    "RetryLater",
    "SetupProblem",
    "find_marker",
    "marker_for",
    "resolve_payment_type",
    "sparkline",
    "summarize",
]
