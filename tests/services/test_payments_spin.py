"""The payment service on a Dejavoo SPIn terminal (the SPIn simulator over loopback HTTP): a lost
reply is settled by status, a cancel reaches the terminal, a void needs a supervisor and is
refused after the batch closes (refund instead), and a refund of the rest is approved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import drivers
from drivers.spin.simulator import SpinSimulator, serve_spin
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.transactions import TxnState as S
from posplus_tui.ledger import Ledger
from posplus_tui.services.errors import VoidNotAllowed
from posplus_tui.services.events import PaymentEvent
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService

from .conftest import Staff, invoice_facts


@pytest.fixture(params=["sqlite"])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
async def spin_pay(
    ledger: Ledger, operators: OperatorService
) -> AsyncIterator[tuple[PaymentService, SpinSimulator]]:
    sim = SpinSimulator(busy_delay_s="0.05")
    server = await serve_spin(sim)
    terminal = drivers.open_terminal(f"{server.url}&timeout=2", authkey=sim.authkey)
    try:
        yield PaymentService(ledger, terminal, operators, station="Counter 1"), sim
    finally:
        await terminal.close()
        await sim.drain()
        await server.close()


async def test_money_in_and_back_on_spin(
    spin_pay: tuple[PaymentService, SpinSimulator], staff: Staff, operators: OperatorService
) -> None:
    pay, sim = spin_pay
    lost = await pay.charge(invoice_facts("10.09"), operator=staff.clerk)  # reply lost
    assert lost.state is S.APPROVED and sim.sales_received(lost.ecr_ref) == 1
    sale = await pay.charge(invoice_facts("61.00"), operator=staff.clerk)
    other = await pay.charge(invoice_facts("70.00"), operator=staff.clerk)
    assert sale.approved and other.approved
    approval = await operators.approve_as_supervisor(
        "Sam Super",
        "2222",
        action=Action.VOID,
        requested_by=staff.clerk,
        target=sale.ecr_ref,
        amount=sale.transaction.approved,
    )
    voided = await pay.void(sale.ecr_ref, operator=staff.clerk, approval=approval)
    assert voided.approved and (await pay.get(sale.ecr_ref)).state is S.VOIDED
    assert ("Void", sale.ecr_ref, 6100) in sim.approvals
    summary = await pay.batch_close(operator=staff.supervisor)
    assert summary.count == 2 and summary.total == Money(1009 + 7000)
    with pytest.raises(VoidNotAllowed, match="Refund it instead"):
        await pay.void(other.ecr_ref, operator=staff.supervisor)
    refund = await pay.refund(other.ecr_ref, operator=staff.supervisor)
    assert refund.approved and refund.transaction.approved == Money(7000)


async def test_cancel_reaches_the_spin_terminal(
    spin_pay: tuple[PaymentService, SpinSimulator], staff: Staff
) -> None:
    pay, sim = spin_pay
    sim.card_wait_ms = 5000
    waiting = asyncio.Event()

    def on_event(e: PaymentEvent) -> None:
        if e.terminal_state == "waiting for card":
            waiting.set()

    task = asyncio.create_task(pay.charge(invoice_facts(), operator=staff.clerk, on_event=on_event))
    await asyncio.wait_for(waiting.wait(), 5)
    assert await pay.cancel_current(operator=staff.clerk)
    result = await asyncio.wait_for(task, 5)
    assert result.state is S.CANCELLED and sim.approvals == []
