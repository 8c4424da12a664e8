"""Alembic migrations for the ledger, applied by :func:`posplus_tui.ledger.open_ledger`."""
