"""Database and network trouble reach the clerk in words they can act on; the driver's own text
(and its "Background on this error at: …" link) goes to the log only."""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy

from posplus_tui.ui.errors import LEDGER_DOWN, NETWORK_DOWN, explain


def _real_database_error(tmp_path) -> Exception:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing' / 'ledger.sqlite3'}")
    try:
        with engine.connect():
            pass
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    pytest.fail("opening a ledger in a missing folder did not fail")


def test_a_database_error_is_a_sentence_and_the_detail_is_logged(tmp_path, caplog) -> None:
    exc = _real_database_error(tmp_path)
    with caplog.at_level(logging.WARNING):
        problem = explain(exc)
    assert problem == LEDGER_DOWN
    words = f"{problem.title} {problem.fix}"
    assert "OperationalError" not in words and "Background on this error" not in words
    assert "payments are paused" in words and "Nothing was lost" in words
    assert "OperationalError" in caplog.text  # the technician finds the detail in the log


def test_a_network_error_is_a_sentence(caplog) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(httpx.ConnectError) as info:
        client.get("https://api.servicetitan.io/")
    with caplog.at_level(logging.WARNING):
        problem = explain(info.value)
    assert problem == NETWORK_DOWN
    assert "Errno" not in problem.title + problem.fix and "Errno" in caplog.text


def test_an_unexpected_error_names_no_class() -> None:
    problem = explain(KeyError("invoice_id"))
    assert "KeyError" not in problem.title and "Nothing was lost" in problem.title
