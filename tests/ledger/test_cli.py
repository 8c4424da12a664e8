"""``posplus db upgrade``, ``txn list/show``, ``recover`` and ``audit verify`` on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

import drivers
from posplus_tui.cli import main
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.ledger import open_ledger
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_db_upgrade_then_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    code, out, _ = run(capsys, "db", "upgrade", "--database-url", url)
    assert code == 0 and "applied" in out and "0001_initial" in out
    code, out, _ = run(capsys, "db", "upgrade", "--database-url", url)
    assert code == 0 and "already up to date" in out


def test_db_upgrade_uses_the_settings_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POSPLUS_DATABASE_URL", f"sqlite:///{tmp_path / 'from-settings.sqlite3'}")
    code, _out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and (tmp_path / "from-settings.sqlite3").exists()


def test_bad_database_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "txn", "list", "--database-url", "mysql://x@y/z")
    assert code == 3 and "sqlite:///PATH or postgresql://" in err and "Traceback" not in err


@pytest.fixture
def filled(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A ledger with a sale, a refund, a decline and one UNKNOWN left for recovery."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"

    async def fill() -> dict[str, str]:
        ledger = open_ledger(url)
        ops = OperatorService(ledger, station="Counter 1", pin_cost=16)
        admin = ops.add_sync("Alice Admin", "admin", "1111")
        sup = ops.add_sync("Sam Super", "supervisor", "2222", by=admin)
        terminal = drivers.open_terminal("sim://cli-test?timeout=0.5")
        pay = PaymentService(ledger, terminal, ops, station="Counter 1", settle_unknown_now=False)

        def inv(balance: str) -> InvoiceFacts:
            # One invoice per charge: the ledger holds an unposted charge against its invoice.
            n = f"88{balance.replace('.', '')}"
            return InvoiceFacts(n, f"INV-{n}", "55", Money.parse(balance), f"J-{n}")

        sale = await pay.charge(inv("100.00"), operator=sup)
        await pay.refund(sale.ecr_ref, Money.parse("10"), operator=sup)
        declined = await pay.charge(inv("3.01"), operator=sup)
        lost = await pay.charge(inv("4.09"), operator=sup)
        await terminal.close()
        ledger.dispose()
        return {"sale": sale.ecr_ref, "declined": declined.ecr_ref, "lost": lost.ecr_ref}

    return url, asyncio.run(fill())


def test_txn_list_and_show(
    filled: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, refs = filled
    code, out, _ = run(capsys, "txn", "list", "--database-url", url)
    assert code == 0 and all(ref in out for ref in refs.values())
    code, out, _ = run(capsys, "txn", "list", "--state", "declined", "--database-url", url)
    assert refs["declined"] in out and refs["sale"] not in out
    code, out, _ = run(capsys, "txn", "list", "--since", "2999-01-01", "--database-url", url)
    assert "no transactions match" in out
    code, _out, err = run(capsys, "txn", "list", "--since", "yesterday", "--database-url", url)
    assert code == 2 and "YYYY-MM-DD" in err
    code, out, _ = run(capsys, "txn", "show", refs["sale"], "--database-url", url)
    assert code == 0 and "partially_refunded" in out and "left to refund: $90.00" in out
    assert "linked: refund" in out
    code, _out, err = run(capsys, "txn", "show", "PNOPE", "--database-url", url)
    assert code == 4 and "No transaction has the reference" in err


def test_recover_prints_what_it_settled(
    filled: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, refs = filled
    args = [
        "recover",
        "--database-url",
        url,
        "--terminal-url",
        "sim://cli-test",
        "--station",
        "Counter 1",
    ]
    code, out, _ = run(capsys, *args)
    assert code == 0 and f"{refs['lost']}: unknown -> approved" in out and "settled 1 of 1" in out
    code, out, _ = run(capsys, *args)
    assert code == 0 and "nothing to recover" in out


def test_recover_needs_a_terminal(
    filled: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _refs = filled
    code, _out, err = run(capsys, "recover", "--database-url", url)
    assert code == 2 and "No terminal is configured" in err


def test_audit_verify_finds_the_first_broken_link(
    filled: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _refs = filled
    code, out, _ = run(capsys, "audit", "verify", "--database-url", url)
    assert code == 0 and "intact" in out
    ledger = open_ledger(url)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET details = '{}' WHERE seq = 3"))
    ledger.dispose()
    code, out, _ = run(capsys, "audit", "verify", "--database-url", url)
    assert code == 6 and "BROKEN at event #3" in out
