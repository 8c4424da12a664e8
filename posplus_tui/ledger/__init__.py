"""The ledger: SQLModel tables, the migrated engine and the audit chain. It stores; services decide."""

from posplus_tui.ledger import seals as _seals  # noqa: F401  (registers the row seals)
from posplus_tui.ledger.engine import Ledger, LedgerError, normalize_url, open_ledger

__all__ = ["Ledger", "LedgerError", "normalize_url", "open_ledger"]
