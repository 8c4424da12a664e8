"""Ledger fixtures: a real SQLite file, and real PostgreSQL when ``POSPLUS_TEST_PG_URL`` is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from posplus_tui.ledger import Ledger, open_ledger


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ledger(any_url: str) -> Iterator[Ledger]:
    led = open_ledger(any_url)
    yield led
    led.dispose()
