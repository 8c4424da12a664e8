"""Random sequences of charges, refunds, voids and batch closes through the real engine and the
simulator: whatever happens, the ledger and the terminal agree on every sale's money, refunds never
exceed what was captured, and every rejection leaves the ledger untouched."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import drivers
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import MONEY_MOVED_STATES, TxnKind, TxnState
from posplus_tui.ledger import open_ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService

from .conftest import FAST_PIN_COST, invoice_facts

CENTS = st.sampled_from([0, 1, 2, 5, 7, 9, 11, 50, 99])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("charge"), st.integers(1, 300), CENTS),
        st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 25_000)),
        st.tuples(st.just("refund_all"), st.integers(0, 9), st.just(0)),
        st.tuples(st.just("void"), st.integers(0, 9), st.just(0)),
        st.tuples(st.just("batch_close"), st.just(0), st.just(0)),
    ),
    min_size=3,
    max_size=14,
)


async def _play(ops: list[tuple[str, int, int]], folder: Path) -> None:
    ledger = open_ledger(f"sqlite:///{folder / 'ledger.sqlite3'}")
    operators = OperatorService(ledger, station="P", pin_cost=FAST_PIN_COST)
    admin = operators.add_sync("Alice Admin", "admin", "1111")
    sup = operators.add_sync("Sam Super", "supervisor", "2222", by=admin)
    terminal = drivers.open_terminal("sim://?timeout=0.2")
    pay = PaymentService(ledger, terminal, operators, station="P")
    sim = terminal.simulator  # type: ignore[attr-defined]
    sales: list[str] = []
    for op, a, b in ops:
        before = _snapshot(ledger)
        try:
            if op == "charge":
                result = await pay.charge(invoice_facts(f"{a}.{b:02d}"), operator=sup)
                if result.transaction.kind.is_charge:
                    sales.append(result.ecr_ref)
            elif sales and op == "refund":
                await pay.refund(sales[a % len(sales)], Money(b), operator=sup)
            elif sales and op == "refund_all":
                await pay.refund(sales[a % len(sales)], operator=sup)
            elif sales and op == "void":
                await pay.void(sales[a % len(sales)], operator=sup)
            elif op == "batch_close":
                await pay.batch_close(operator=sup)
        except ServiceError:
            # A rejection changed nothing, except a void the terminal refused after a batch close
            # (recorded as a failed void, nothing moved).
            after = _snapshot(ledger)
            assert {k: v for k, v in after.items() if k[1] != "void"} == {
                k: v for k, v in before.items() if k[1] != "void"
            }
    for ref in sales:
        sale = await pay.get(ref)
        children = pay.store.children(ref)
        refunded = sum(
            c.approved.cents for c in children if c.kind is TxnKind.REFUND and c.is_approved
        )
        voided = any(c.kind is TxnKind.VOID and c.is_approved for c in children)
        assert refunded <= sale.approved.cents
        record = sim.records.get(ref)
        if sale.is_approved:
            assert record is not None and record.approved_cents == sale.approved.cents
            assert record.refunded_cents == refunded
            assert record.voided == voided == (sale.state is TxnState.VOIDED)
            if refunded:
                expected = (
                    TxnState.REFUNDED
                    if refunded == sale.approved.cents
                    else TxnState.PARTIALLY_REFUNDED
                )
                assert sale.state is expected
        else:
            assert record is None or not record.approved
    moved = ",".join(f"'{state.value}'" for state in MONEY_MOVED_STATES)
    with ledger.engine.connect() as conn:
        approved = conn.execute(
            text(f"SELECT count(*) FROM transactions WHERE state IN ({moved})")
        ).scalar_one()
        outbox = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    assert approved == outbox  # one outbox row per approval, refund and void
    assert verify(ledger.engine).ok
    await terminal.close()
    ledger.dispose()


def _snapshot(ledger) -> dict[tuple[str, str], tuple[str, int]]:  # type: ignore[no-untyped-def]
    with ledger.engine.connect() as conn:
        return {
            (ref, kind): (state, approved)
            for ref, kind, state, approved in conn.execute(
                text("SELECT ecr_ref, kind, state, approved_cents FROM transactions")
            )
        }


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_random_sequences_keep_ledger_and_terminal_in_agreement(
    ops: list[tuple[str, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_play(ops, Path(folder)))
