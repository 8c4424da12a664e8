"""The audit tampering table: every way of rewriting history the review tried is detected.

A real ledger (SQLite file and PostgreSQL) with operators, a sale and a refund; the chain signed
with a key the database never sees; its head anchored in a file outside the ledger. Then one
tampering per case, done straight in SQL as someone with the database but not the keyring would,
and ``verify`` must name a break. ``posplus audit verify`` on a mistyped path creates nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from drivers import Unknown
from posplus_tui.cli import main
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.transactions import Tender, TxnKind
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import CardOnFile
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.txn_store import IntentSpec, TxnStore
from tests.services.conftest import FAST_PIN_COST, invoice_facts, make_payments

KEY = "0123456789abcdef" * 4


@pytest.fixture
async def filled(ledger: Ledger, tmp_path: Path) -> tuple[Ledger, Path]:
    chain.set_key(ledger.engine, KEY)
    ops = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    admin = ops.add_sync("Alice Admin", "admin", "1111")
    ops.add_sync("Sam Super", "supervisor", "2222", by=admin)
    clerk = ops.add_sync("Carl Clerk", "clerk", "3333", by=admin)
    pay, terminal = make_payments(ledger, ops)
    try:
        sale = await pay.charge(invoice_facts("90.00"), operator=clerk)
        saved = await pay.charge(invoice_facts("40.00"), operator=clerk, save_card=True)
        assert saved.transaction.card_on_file_id is not None
        approval = await ops.approve_as_supervisor(
            "Sam Super",
            "2222",
            action=Action.REFUND,
            requested_by=clerk,
            target=sale.ecr_ref,
            amount=Money.parse("10"),
        )
        await pay.refund(sale.ecr_ref, Money.parse("10"), operator=clerk, approval=approval)
        ops.sign_in_sync("Carl Clerk", "3333")
        # A sale whose outcome was lost on the way back: intent, sent (a guarded Core UPDATE,
        # sealed from its RETURNING), then unknown.
        store = TxnStore(ledger, station="Counter 1")
        lost = store.write_intent(
            IntentSpec(TxnKind.SALE, Tender.CARD, Money.parse("25"), clerk.id, "Carl Clerk",
                       invoice_facts("25.00"))
        )  # fmt: skip
        store.mark_sent(lost.id)
        store.settle(lost.id, Unknown(lost.ecr_ref, "no reply"), actor="Carl Clerk")
        store.mark_parent_batch_closed(sale.ecr_ref)  # a sealed time: same on both databases
        spare, revoked = (
            CardOnFile(customer_id=customer, token=f"tok_{customer}", brand="VISA", last4="4242",
                       expiry="1230", saved_by=clerk.id)
            for customer in ("7002", "7003")
        )  # fmt: skip
        with ledger.session() as session:  # cards no transaction points at (sealed at commit)
            session.add_all([spare, revoked])
            session.commit()
            assert revoked.id is not None
        store.revoke_card(revoked.id, operator_id=clerk.id, actor="Carl Clerk")
    finally:
        await terminal.close()
    anchors = tmp_path / "anchors.log"
    chain.anchor(ledger.engine, anchors)
    assert chain.verify(ledger.engine, anchors=anchors).ok
    return ledger, anchors


def _sql(engine: Engine, *statements: str, **params: object) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def _events(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_events ORDER BY seq"))
        ]


def edit(engine: Engine) -> None:
    _sql(engine, "UPDATE audit_events SET actor = 'Mallory' WHERE seq = 3")


def delete(engine: Engine) -> None:
    _sql(engine, "DELETE FROM audit_events WHERE seq = 4")


def reorder(engine: Engine) -> None:
    _sql(
        engine,
        "UPDATE audit_events SET seq = -1 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = -1",
    )


def truncate(engine: Engine) -> None:
    last = len(_events(engine))
    _sql(engine, "DELETE FROM audit_events WHERE seq > :n", n=last - 3)


def truncate_and_move_head(engine: Engine) -> None:
    events = _events(engine)
    keep = events[-4]
    _sql(engine, "DELETE FROM audit_events WHERE seq > :n", n=keep["seq"])
    _sql(engine, "UPDATE audit_head SET seq = :s, hash = :h", s=keep["seq"], h=keep["hash"])


def rehash(engine: Engine) -> None:
    """Edit an event and re-hash everything after it, head included: all an attacker without
    the key can do (SHA-256, as the unkeyed chain was)."""
    events = _events(engine)
    prev = chain.GENESIS
    for ev in events:
        if ev["seq"] == 3:
            ev["actor"] = "Mallory"
        ev["prev_hash"] = prev
        ev["hash"] = chain.event_hash(
            seq=ev["seq"], at=ev["at"], actor=ev["actor"], station=ev["station"],
            action=ev["action"], subject=ev["subject"], details=ev["details"], prev_hash=prev,
        )  # fmt: skip
        prev = ev["hash"]
        _sql(
            engine,
            "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=ev["actor"], p=ev["prev_hash"], h=ev["hash"], s=ev["seq"],
        )  # fmt: skip
    _sql(engine, "UPDATE audit_head SET hash = :h", h=prev)


def rehash_with_a_guessed_hmac(engine: Engine) -> None:
    """The same with a key the attacker guessed (not the one in the keyring)."""
    events = _events(engine)
    prev = chain.GENESIS
    for ev in events:
        ev["hash"] = chain.event_hash(
            seq=ev["seq"], at=ev["at"], actor="Mallory" if ev["seq"] == 3 else ev["actor"],
            station=ev["station"], action=ev["action"], subject=ev["subject"],
            details=ev["details"], prev_hash=prev, key=hashlib.sha256(b"guess").digest(),
        )  # fmt: skip
        _sql(engine, "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
             p=prev, h=ev["hash"], s=ev["seq"])  # fmt: skip
        prev = ev["hash"]
    _sql(engine, "UPDATE audit_head SET hash = :h", h=prev)


def rehash_unsigned_behind_a_forged_start(engine: Engine) -> None:
    """Re-hash everything unsigned, the chain's first event renamed, and a new ``audit_signed``
    event at the end claiming all before it was unsigned (as an upgraded chain's is)."""
    events = _events(engine)
    prev = chain.GENESIS
    for ev in events:
        action = "note" if ev["action"] == chain.SIGNED_ACTION else ev["action"]
        ev["hash"] = chain.event_hash(
            seq=ev["seq"], at=ev["at"], actor="Mallory" if ev["seq"] == 3 else ev["actor"],
            station=ev["station"], action=action, subject=ev["subject"], details=ev["details"],
            prev_hash=prev,
        )  # fmt: skip
        _sql(engine, "UPDATE audit_events SET action = :a, actor = :m, prev_hash = :p, "
             "hash = :h WHERE seq = :s", a=action, p=prev, h=ev["hash"], s=ev["seq"],
             m="Mallory" if ev["seq"] == 3 else ev["actor"])  # fmt: skip
        prev = ev["hash"]
    seq = len(events) + 1
    details = json.dumps({"key_check": "0" * 16, "unsigned_through": seq, "unsigned_head": prev})
    digest = chain.event_hash(
        seq=seq, at=str(events[-1]["at"]), actor="", station="", action=chain.SIGNED_ACTION,
        subject="audit log", details=details, prev_hash=prev,
    )  # fmt: skip
    _sql(engine, "INSERT INTO audit_events (seq, at, actor, station, action, subject, details, "
         "prev_hash, hash) VALUES (:s, :at, '', '', :a, 'audit log', :d, :p, :h)",
         s=seq, at=str(events[-1]["at"]), a=chain.SIGNED_ACTION, d=details, p=prev,
         h=digest)  # fmt: skip
    _sql(engine, "UPDATE audit_head SET seq = :s, hash = :h", s=seq, h=digest)


def change_a_money_row(engine: Engine) -> None:
    _sql(engine, "UPDATE transactions SET approved_cents = 1, amount_cents = 1 WHERE id = 1")


def show_an_approved_sale_declined(engine: Engine) -> None:
    _sql(engine, "UPDATE transactions SET state = 'declined' WHERE id = 1")


def turn_an_unknown_into_an_approval(engine: Engine) -> None:
    """What would make the reconcile worker post a payment nobody took."""
    _sql(engine, "UPDATE transactions SET state = 'approved' WHERE state = 'unknown'")


def undo_a_refund(engine: Engine) -> None:
    """The refunded sale back to plain approved: refundable again in full."""
    _sql(engine, "UPDATE transactions SET state = 'approved' WHERE parent_id IS NULL AND id = 1")


def mark_a_batch_closed(engine: Engine) -> None:
    """A sale made to look settled, or (the other way round) void-able again."""
    _sql(engine, "UPDATE transactions SET batch_closed_at = CURRENT_TIMESTAMP WHERE id = 1")


def insert_a_money_row(engine: Engine) -> None:
    _sql(
        engine,
        "INSERT INTO transactions (ecr_ref, kind, tender, state, amount_cents, approved_cents, "
        "invoice_id, invoice_number, job_number, customer_id, station, terminal_ref, host_ref, "
        "auth_code, brand, last4, entry_method, save_card, batch_number, host_code, message, "
        "version, created_at, updated_at) VALUES ('P000000FORGED01', 'sale', 'card', "
        "'approved', 50000, 50000, '1', 'INV-1', '', '', 'Counter 1', '', '', 'OK', 'VISA', "
        "'1111', 'swipe', false, '', '', 'approved', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )


def delete_a_money_row(engine: Engine) -> None:
    _sql(engine, "DELETE FROM outbox", "DELETE FROM transactions WHERE parent_id IS NOT NULL")


def promote_an_operator(engine: Engine) -> None:
    _sql(engine, "UPDATE operators SET role = 'admin' WHERE name = 'Carl Clerk'")


def reset_a_pin(engine: Engine) -> None:
    _sql(engine, "UPDATE operators SET pin_hash = 'scrypt$16$8$1$00$00' WHERE name = 'Sam Super'")


def disable_an_operator(engine: Engine) -> None:
    _sql(engine, "UPDATE operators SET disabled = true WHERE name = 'Sam Super'")


def delete_an_operator(engine: Engine) -> None:
    _sql(engine, "DELETE FROM operators WHERE name = 'Alice Admin'")


def add_an_operator(engine: Engine) -> None:
    _sql(
        engine,
        "INSERT INTO operators (name, role, st_username, pin_hash, failed_attempts, disabled, "
        "created_at, updated_at) VALUES ('mallory', 'admin', '', 'x', 0, false, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )


def move_a_card_to_another_customer(engine: Engine) -> None:
    """Another customer's invoices could then be charged on this saved card."""
    _sql(engine, "UPDATE cards_on_file SET customer_id = '9999' WHERE customer_id = '7001'")


def change_a_cards_last4(engine: Engine) -> None:
    _sql(engine, "UPDATE cards_on_file SET last4 = '0000' WHERE customer_id = '7001'")


def swap_a_cards_token(engine: Engine) -> None:
    _sql(engine, "UPDATE cards_on_file SET token = 'tok_mallory' WHERE customer_id = '7002'")


def bring_back_a_revoked_card(engine: Engine) -> None:
    """Revoked in the app (its token dropped), then made chargeable again in SQL."""
    _sql(
        engine,
        "UPDATE cards_on_file SET revoked = false, token = 'tok_x' WHERE customer_id = '7003'",
    )


def insert_a_card(engine: Engine) -> None:
    _sql(
        engine,
        "INSERT INTO cards_on_file (customer_id, token, brand, last4, expiry, revoked, "
        "created_at) VALUES ('7001', 'tok_mallory', 'VISA', '1111', '1230', false, "
        "CURRENT_TIMESTAMP)",
    )


def delete_a_card(engine: Engine) -> None:
    _sql(engine, "DELETE FROM cards_on_file WHERE customer_id = '7002'")


TAMPERING: dict[str, Callable[[Engine], None]] = {
    "edit": edit,
    "delete": delete,
    "reorder": reorder,
    "truncate": truncate,
    "truncate and move head": truncate_and_move_head,
    "re-hash": rehash,
    "re-hash with a guessed key": rehash_with_a_guessed_hmac,
    "re-hash unsigned behind a forged signed start": rehash_unsigned_behind_a_forged_start,
    "change a money row": change_a_money_row,
    "change a state: approved to declined": show_an_approved_sale_declined,
    "change a state: unknown to approved": turn_an_unknown_into_an_approval,
    "change a state: refunded back to approved": undo_a_refund,
    "mark a batch closed": mark_a_batch_closed,
    "delete a money row": delete_a_money_row,
    "insert a money row": insert_a_money_row,
    "promote an operator": promote_an_operator,
    "disable an operator": disable_an_operator,
    "delete an operator": delete_an_operator,
    "reset a PIN": reset_a_pin,
    "add an operator": add_an_operator,
    "move a saved card to another customer": move_a_card_to_another_customer,
    "change a saved card's last 4": change_a_cards_last4,
    "swap a saved card's token": swap_a_cards_token,
    "bring back a revoked card": bring_back_a_revoked_card,
    "insert a saved card": insert_a_card,
    "delete a saved card": delete_a_card,
}
#: The saved-card cases must be caught on the card row itself, not on a neighbour.
ON_CARDS = {case for case in TAMPERING if "card" in case}


#: Cut the tail and move the head back: every remaining link and signature is genuine, only the
#: head anchored outside the ledger shows the chain once went further.
ONLY_THE_ANCHORS_SEE = {"truncate and move head"}


@pytest.mark.parametrize("case", sorted(TAMPERING))
async def test_every_tampering_is_detected(case: str, filled: tuple[Ledger, Path]) -> None:
    ledger, anchors = filled
    TAMPERING[case](ledger.engine)
    report = chain.verify(ledger.engine, anchors=anchors)
    assert not report.ok, case
    assert "BROKEN" in report.describe()
    if case not in ONLY_THE_ANCHORS_SEE:  # the signed chain alone sees the rest
        assert not chain.verify(ledger.engine).ok, case
    if case in ON_CARDS:
        assert "cards_on_file row" in report.describe(), report.describe()


async def test_the_untouched_ledger_verifies_and_says_so(filled: tuple[Ledger, Path]) -> None:
    ledger, anchors = filled
    report = chain.verify(ledger.engine, anchors=anchors)
    assert report.ok and "intact" in report.describe()
    # The key is not in the database: no table holds it.
    with ledger.engine.connect() as conn:
        dump = json.dumps(
            [list(r) for r in conn.execute(text("SELECT * FROM audit_events"))], default=str
        )
    assert KEY not in dump


@pytest.mark.parametrize("command", [["verify"], ["upgrade"], ["key", "export"]])
def test_audit_commands_on_a_mistyped_path_create_nothing(
    command: list[str], tmp_path: Path, capsys
) -> None:
    missing = tmp_path / "ledgr.sqlite3"
    code = main(["audit", *command, "--database-url", f"sqlite:///{missing}"])
    assert code == 3
    assert not missing.exists()
    assert "no ledger" in capsys.readouterr().err.lower()
