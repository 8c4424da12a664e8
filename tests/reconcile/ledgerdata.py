"""Approved transactions for the reconcile tests, written straight into the ledger's tables.

(The same rows the payment engine writes on approval: a transaction and, in the same database
transaction, its outbox row.)
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from posplus_tui.domain.refs import make_ecr_ref, outbox_marker
from posplus_tui.ledger import Ledger
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.transactions import Transaction

_counter = itertools.count(1)


@dataclass(frozen=True)
class Approved:
    transaction_id: int
    outbox_id: int
    marker: str
    ecr_ref: str
    cents: int


def add_approved(
    ledger: Ledger,
    *,
    invoice_id: int,
    invoice_number: str,
    cents: int,
    kind: str = "sale",
    tender: str = "card",
    parent: Approved | None = None,
    station: str = "Counter 1",
) -> Approved:
    """One approved sale/deposit/refund/void and its outbox row, committed together."""
    ref = make_ecr_ref(datetime.now(UTC).date(), secrets.randbits(46))
    action = {"sale": "post_payment", "deposit": "post_payment", "refund": "post_refund"}.get(
        kind, "void_payment"
    )
    with Session(ledger.engine) as session:
        txn = Transaction(
            ecr_ref=ref,
            kind=kind,
            tender=tender,
            state="approved",
            amount_cents=cents,
            approved_cents=cents,
            invoice_id=str(invoice_id),
            invoice_number=invoice_number,
            station=station,
            auth_code=f"A{next(_counter):05d}",
            brand="VISA" if tender != "ach" else "",
            last4="1111" if tender != "ach" else "6789",
            parent_id=parent.transaction_id if parent else None,
        )
        session.add(txn)
        session.flush()
        marker = outbox_marker(ref)
        row = OutboxRow(transaction_id=txn.id, action=action, marker=marker)
        session.add(row)
        session.flush()
        out = Approved(txn.id, row.id, marker, ref, cents)  # type: ignore[arg-type]
        session.commit()
    return out


def add_many(
    ledger: Ledger, invoices: list[tuple[int, str]], cents: int, *, tender: str = "card"
) -> list[Approved]:
    """One approved sale per (invoice id, number), all in one database transaction (fast setup)."""
    out: list[Approved] = []
    day = datetime.now(UTC).date()
    with Session(ledger.engine) as session:
        pending: list[tuple[Transaction, str]] = []
        for invoice_id, number in invoices:
            ref = make_ecr_ref(day, secrets.randbits(46))
            txn = Transaction(
                ecr_ref=ref,
                kind="sale",
                tender=tender,
                state="approved",
                amount_cents=cents,
                approved_cents=cents,
                invoice_id=str(invoice_id),
                invoice_number=number,
                station="Counter 1",
                auth_code=f"A{next(_counter):05d}",
                brand="VISA",
                last4="1111",
            )
            session.add(txn)
            pending.append((txn, ref))
        session.flush()
        rows = []
        for txn, ref in pending:
            row = OutboxRow(transaction_id=txn.id, action="post_payment", marker=outbox_marker(ref))
            session.add(row)
            rows.append((txn, ref, row))
        session.flush()
        out = [
            Approved(txn.id, row.id, row.marker, ref, cents)  # type: ignore[arg-type]
            for txn, ref, row in rows
        ]
        session.commit()
    return out
