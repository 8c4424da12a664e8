"""The ledger: SQLModel tables, the migrated engine and the audit chain. It stores; services decide."""

from posplus_tui.ledger.engine import Ledger, LedgerError, normalize_url, open_ledger

__all__ = ["Ledger", "LedgerError", "normalize_url", "open_ledger"]
