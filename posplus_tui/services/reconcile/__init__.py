"""Reconciliation: post every approved transaction to ServiceTitan exactly once, and show it.

The worker drains the ledger's outbox through a :class:`Poster`, verifies each posting by reading
the invoice back, and publishes every step as a :class:`ReconcileEvent`.
"""

from posplus_tui.services.reconcile.actions import ActionRefused
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.marker import find_marker, marker_for
from posplus_tui.services.reconcile.model import DrainProgress, MismatchRecord, PostingView
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
from posplus_tui.services.reconcile.service import ReconcileService
from posplus_tui.services.reconcile.summary import ReconcileSummary, Tally, sparkline, summarize
from posplus_tui.services.reconcile.worker import ReconcileStopped, ReconcileWorker

__all__ = [
    "ActionRefused",
    "DrainProgress",
    "EventBus",
    "EventKind",
    "MismatchRecord",
    "NeedsAttention",
    "OutcomeUnknown",
    "PaymentTypeSetupError",
    "PostResult",
    "Poster",
    "Posting",
    "PostingView",
    "ReconcileEvent",
    "ReconcileService",
    "ReconcileStopped",
    "ReconcileSummary",
    "ReconcileWorker",
    "ResolvedPaymentType",
    "RetryLater",
    "SetupProblem",
    "Tally",
    "find_marker",
    "marker_for",
    "resolve_payment_type",
    "sparkline",
    "summarize",
]
