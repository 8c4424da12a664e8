"""After every kind of flow, neither the ledger file (with its WAL) nor the log holds a card number,
a full bank account or routing number, a PIN or a secret: only tokens, brands and last 4 digits."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.ledger import Ledger
from posplus_tui.logs import setup_logging
from posplus_tui.services.operators import OperatorService

from .conftest import Staff, invoice_facts, make_payments

ACCOUNTS = ("12345678901234567", "987654321012")  # 17 digits (PAN-length) and 12 digits
ROUTING = "021000021"
SECRET_PIN = "80417263"
#: Columns that hold digests (random hex) rather than data.
HASH_COLUMNS = {"hash", "prev_hash", "pin_hash"}
PAN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
#: Hex digests (the audit chain's seals hash rows into its details): a run of 16 decimal digits
#: inside one, Luhn-valid by chance, is not a card number. Cut out before scanning.
DIGEST = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32,}(?![0-9A-Za-z])")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


async def test_no_card_number_account_or_secret_anywhere(
    ledger: Ledger, operators: OperatorService, staff: Staff, tmp_path: Path
) -> None:
    log_file = setup_logging(logging.DEBUG, tmp_path / "logs")
    try:
        await operators.add("Pat Pin", "supervisor", SECRET_PIN, by=staff.admin)
        await operators.sign_in("Pat Pin", SECRET_PIN)
        pay, terminal = make_payments(ledger, operators)
        sale = await pay.charge(invoice_facts("90.00"), operator=staff.clerk, save_card=True)
        card = (await pay.list_cards("7001"))[0]
        await pay.charge_card_on_file(invoice_facts("20.00"), card.id, operator=staff.clerk)
        await pay.charge_keyed(invoice_facts("21.00"), operator=staff.clerk)
        for account in ACCOUNTS:
            result = await pay.charge_ach(
                invoice_facts("22.00"), ROUTING, account, operator=staff.clerk
            )
            assert result.approved and result.transaction.last4 == account[-4:]
        await pay.charge(invoice_facts("23.01"), operator=staff.clerk)
        await pay.charge(invoice_facts("23.05"), operator=staff.clerk)
        await pay.charge(invoice_facts("23.09"), operator=staff.clerk)
        approval = await operators.approve_as_supervisor(
            "Pat Pin",
            SECRET_PIN,
            action=Action.REFUND,
            requested_by=staff.clerk,
            target=sale.ecr_ref,
            amount=Money.parse("10"),
        )
        await pay.refund(sale.ecr_ref, Money.parse("10"), operator=staff.clerk, approval=approval)
        other = await pay.charge(invoice_facts("24.00"), operator=staff.clerk)
        await pay.void(other.ecr_ref, operator=staff.supervisor)
        await pay.batch_close(operator=staff.supervisor)
        await terminal.close()
        logging.getLogger("posplus.test").info("flows done")
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_posplus", False):
                handler.flush()

    # 1. Every text value in every ledger table (digest columns aside): no PAN-like number.
    found: list[str] = []
    with ledger.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            columns = [
                c["name"] for c in inspect(conn).get_columns(table) if c["name"] not in HASH_COLUMNS
            ]
            for row in conn.execute(text(f'SELECT {", ".join(columns)} FROM "{table}"')):
                for name, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text_value = str(value)
                    for match in PAN.findall(DIGEST.sub(" ", text_value)):
                        if luhn_ok(match) or match in ACCOUNTS:
                            found.append(f"{table}.{name}: {match}")
                    for secret in (*ACCOUNTS, ROUTING, SECRET_PIN):
                        if secret in text_value:
                            found.append(f"{table}.{name} holds {secret}")
    assert found == []

    # 2. The raw bytes of the database file, its WAL and the log: no account, routing number or PIN.
    db_path = Path(ledger.engine.url.database or "")
    files = [p for p in (db_path, Path(f"{db_path}-wal"), log_file) if p.exists()]
    assert log_file in files and db_path in files
    for path in files:
        blob = path.read_bytes()
        for secret in (*ACCOUNTS, ROUTING, SECRET_PIN):
            assert secret.encode() not in blob, f"{secret} found in {path.name}"
    log_text = log_file.read_text(encoding="utf-8")
    assert "flows done" in log_text
    assert not [m for m in PAN.findall(log_text) if luhn_ok(m)]
