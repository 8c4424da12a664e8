"""Every ledger table. Importing this package imports each module in it, so ``SQLModel.metadata``
is complete for Alembic and for tests, whoever adds a module here."""

from __future__ import annotations

import importlib
import pkgutil

from posplus_tui.ledger.tables.audit import AuditEvent, AuditHead
from posplus_tui.ledger.tables.cards import CardOnFile
from posplus_tui.ledger.tables.operators import Operator
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.transactions import Transaction

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["AuditEvent", "AuditHead", "CardOnFile", "Operator", "OutboxRow", "Transaction"]
