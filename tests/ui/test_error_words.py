"""Database and network trouble reach the clerk in words they can act on; the driver's own text
(and its "Background on this error at: …" link) goes to the log only."""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy

from posplus_tui.ui.errors import LEDGER_DOWN, LEDGER_READ_ONLY, NETWORK_DOWN, explain


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


def test_a_read_only_ledger_is_not_called_a_database_that_is_not_answering(tmp_path) -> None:
    """Issue 16: a read-only ledger was reported as "check the database server is running"."""
    file = tmp_path / "ledger.sqlite3"
    sqlalchemy.create_engine(f"sqlite:///{file}").dispose()
    with sqlalchemy.create_engine(f"sqlite:///{file}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine = sqlalchemy.create_engine(
        "sqlite://", creator=lambda: __import__("sqlite3").connect(f"file:{file}?mode=ro", uri=True)
    )
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    except Exception as exc:
        problem = explain(exc)
    else:
        pytest.fail("a write to a read-only ledger did not fail")
    finally:
        engine.dispose()
    assert problem == LEDGER_READ_ONLY
    assert "read-only" in problem.title and "not answering" not in problem.title


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
