"""Recovery while the app runs: unknown and interrupted requests are settled by asking the
terminal when it is idle, with back-off, never by sending them again and without a restart.

Real ledger (SQLite file and PostgreSQL), the simulator as the terminal; the PostgreSQL test cuts
the database for real (connections refused and killed) while a refund is at the terminal.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest
from sqlalchemy import text

from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.services.errors import ServiceError, TerminalBusy
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService
from posplus_tui.services.recovery import RecoveryLoop
from posplus_tui.services.txn_store import IntentSpec, TxnStore

from .conftest import Staff, invoice_facts, make_payments

S = TxnState


def sim(pay: PaymentService):
    return pay._terminal.simulator  # type: ignore[attr-defined]


async def until(check: Callable[[], object], seconds: float = 10.0, what: str = "") -> None:
    """Wait (the app keeps running) until ``check()`` holds."""
    for _ in range(int(seconds / 0.05)):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def state_of(ledger: Ledger, ref: str) -> str:
    with ledger.engine.connect() as conn:
        return conn.execute(
            text("SELECT state FROM transactions WHERE ecr_ref = :r"), {"r": ref}
        ).scalar_one()


async def test_unknown_rows_are_settled_while_the_app_runs(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    """Fifteen replies lost and the terminal silent when asked right away: all UNKNOWN. The
    running loop settles every one from the terminal's status (back-off while it stays silent);
    the terminal was asked to charge each exactly once."""
    box: list[PaymentService] = []

    def checkpoint(name: str) -> None:
        if name == "terminal_replied":  # the reply was lost; the status query asked right
            sim(box[0]).inject("no_reply", 1)  # after it goes unanswered too

    pay, terminal = make_payments(ledger, operators, "sim://?timeout=0.3", checkpoint=checkpoint)
    box.append(pay)
    loop = RecoveryLoop(pay, poll=0.05, first_delay=0.05, max_delay=0.4)
    task = loop.start()
    refs = []
    for _ in range(15):
        result = await pay.charge(invoice_facts("30.09"), operator=staff.clerk)
        assert result.state is S.UNKNOWN, result.message
        assert "Do NOT run the card again" in result.message
        refs.append(result.ecr_ref)
    sim(pay).inject("no_reply", 3)  # the first passes find the terminal silent: back-off

    await until(lambda: all(state_of(ledger, r) == "approved" for r in refs), what="all settled")
    assert all(len(sim(pay).accepted(r)) == 1 for r in refs)  # asked about, never resent
    assert await pay.unsettled() == []
    assert loop.failures == 0 and loop.last is not None
    task.cancel()
    await loop.aclose()
    await terminal.close()


async def test_an_interrupted_request_of_a_dead_process_is_settled_without_a_restart(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    """A previous run of this station died with one sale at the terminal (approved there) and
    one intent never sent. The running app settles both: approved from the terminal's status,
    the intent discarded; neither is sent again."""
    pay, terminal = make_payments(ledger, operators)
    dead = TxnStore(ledger, station="Counter 1")  # the process that died
    spec = IntentSpec(
        TxnKind.SALE, Tender.CARD, Money(4200), staff.clerk.id, staff.clerk.name, invoice_facts()
    )
    sent = dead.write_intent(spec)
    dead.mark_sent(sent.id)
    assert (await terminal.sale(4200, sent.ecr_ref)).__class__.__name__ == "Approved"
    never = dead.write_intent(
        IntentSpec(
            TxnKind.SALE, Tender.CARD, Money(99), staff.clerk.id, staff.clerk.name, invoice_facts()
        )
    )
    loop = RecoveryLoop(pay, poll=0.05)
    reports = []
    loop.subscribe(reports.append)
    loop.start()
    await until(
        lambda: (
            (state_of(ledger, sent.ecr_ref), state_of(ledger, never.ecr_ref))
            == ("approved", "discarded")
        ),
        what="both settled",
    )
    assert sim(pay).accepted(never.ecr_ref) == [] and len(sim(pay).accepted(sent.ecr_ref)) == 1
    assert "1 had been approved and are now recorded" in reports[-1].headline()
    await loop.aclose()
    await terminal.close()


async def test_recovery_waits_for_the_terminal_and_never_touches_a_payment_in_flight(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators, "sim://?timeout=5&card_wait_ms=1500")
    loop = RecoveryLoop(pay, poll=0.01, busy_retry=0.01)
    loop.start()
    inv = invoice_facts("61.00")
    charge = asyncio.create_task(pay.charge(inv, operator=staff.clerk))

    def at_terminal() -> bool:
        rows = pay.store.list(invoice_id=inv.invoice_id)
        return bool(rows) and rows[0].state is S.AT_TERMINAL

    await until(at_terminal, what="the sale at the terminal")
    await asyncio.sleep(0.2)  # the loop looks many times while the card is being presented
    with pytest.raises(TerminalBusy, match="busy with P"):
        await loop.run_now()  # Recover pressed meanwhile: refused in words, nothing touched
    result = await charge
    assert result.approved and loop.last is None  # nothing was ever recovered
    with ledger.engine.connect() as conn:
        actions = conn.execute(
            text("SELECT details FROM audit_events WHERE subject = :r"), {"r": result.ecr_ref}
        ).scalars()
        assert not any("recovery" in (d or "") for d in actions)
    await loop.aclose()
    await terminal.close()


async def test_recover_now_says_what_it_settled(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    pay, terminal = make_payments(ledger, operators, settle_unknown_now=False)
    lost = await pay.charge(invoice_facts("30.09"), operator=staff.clerk)
    assert lost.state is S.UNKNOWN
    loop = RecoveryLoop(pay)  # not started: the Recover action alone
    assert [v.ecr_ref for v in await loop.unsettled()] == [lost.ecr_ref]
    report = await loop.run_now()
    assert report.headline() == (
        "Recovered 1 interrupted request(s); 1 had been approved and are now recorded."
    )
    assert f"{lost.ecr_ref}: unknown → approved. Payment approved: $30.09" in report.details()
    assert (await loop.run_now()).outcomes == ()
    await loop.aclose()
    await terminal.close()


# -- the database cut while a refund is at the terminal (PostgreSQL) ---------------------------


def _admin(pg_url: str):
    import psycopg

    server = os.environ["POSPLUS_TEST_PG_URL"].replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(server, autocommit=True), pg_url.rpartition("/")[2]


def _cut(pg_url: str) -> None:
    conn, name = _admin(pg_url)
    with conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def _restore(pg_url: str) -> None:
    conn, name = _admin(pg_url)
    with conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_a_refund_approved_while_the_database_was_cut_is_settled_by_the_running_app(
    pg_url: str,
) -> None:
    """The finding: a refund approved at the terminal while the database was cut stayed
    ``at_terminal`` until the next start. Now the running app settles it once the database is
    back: refund approved, sale partially refunded, the refund's outbox row written."""
    from posplus_tui.ledger import open_ledger

    from .conftest import FAST_PIN_COST

    ledger = open_ledger(pg_url)
    operators = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    sup = operators.add_sync("Sam Super", "supervisor", "2222")
    armed = {"on": False}

    def checkpoint(name: str) -> None:
        if armed["on"] and name == "terminal:AUTHORISING":
            armed["on"] = False
            _cut(pg_url)  # the terminal is refunding; the database goes away

    pay, terminal = make_payments(ledger, operators, "sim://?timeout=3", checkpoint=checkpoint)
    sale = await pay.charge(invoice_facts("200.00"), operator=sup)
    loop = RecoveryLoop(pay, poll=0.1, first_delay=0.1, max_delay=0.5)
    loop.start()
    armed["on"] = True
    try:
        with pytest.raises(ServiceError, match="Do NOT run the card again") as lost:
            await pay.refund(sale.ecr_ref, Money.parse("50.00"), operator=sup)
        assert "Reconcile screen" in lost.value.fix  # Recover: something that exists
        await asyncio.sleep(0.5)  # the loop tries, fails, backs off
        assert loop.failures >= 1 and loop.last_error
    finally:
        _restore(pg_url)
    await until(lambda: state_of(ledger, sale.ecr_ref) == "partially_refunded", what="settled")
    refunds = [t for t in await pay.transactions_for_invoice(sale.transaction.invoice_id)]
    refund = next(t for t in refunds if t.kind is TxnKind.REFUND)
    assert refund.state is S.APPROVED and refund.approved == Money.parse("50.00")
    assert await pay.refundable(sale.ecr_ref) == Money.parse("150.00")
    refunds_sent = [r for r in sim(pay).records.values() if r.txn_type == "02"]
    assert len(refunds_sent) == 1  # asked about, never refunded twice
    with ledger.engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM outbox ORDER BY id")).scalars().all()
    assert actions == ["post_payment", "post_refund"]
    await loop.aclose()
    await terminal.close()
    ledger.dispose()
