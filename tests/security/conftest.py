"""Security tests reuse the service fixtures: a real ledger (SQLite file and PostgreSQL), fast
PIN hashing, a movable clock and the four kinds of staff."""

from __future__ import annotations

from tests.services.conftest import clock, ledger, ledger_url, operators, staff

__all__ = ["clock", "ledger", "ledger_url", "operators", "staff"]

from tests.ui.conftest import demo_app, demo_template

__all__ += ["demo_app", "demo_template"]
