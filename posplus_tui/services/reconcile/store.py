"""The worker's view of the ledger: claiming outbox rows, applying results, history and actions.

Blocking SQLAlchemy code; the worker calls it through ``asyncio.to_thread`` so the UI never waits on
the database. Each method is one database transaction, so a crash between two calls leaves every
row in a state the next worker knows how to continue from (``posting`` means "search first").

The parts live beside this module: ``claims`` (leases and locks), ``results`` (what a posting
attempt found), ``queries`` (what the screens read) and ``actions`` (a supervisor's retry, mark
and cancel).
"""

from __future__ import annotations

from posplus_tui.services.reconcile.actions import ActionStore
from posplus_tui.services.reconcile.queries import QueryStore


class ReconcileStore(ActionStore, QueryStore):
    """Reconciliation's reads and writes on one ledger engine."""
